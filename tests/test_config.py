"""Configuration: defaults -> TOML -> --set -> flags, and helpful refusals."""

from __future__ import annotations

import pytest

from jepawatch.config_sources import RunConfig, resolve_config
from jepawatch.errors import ConfigError
from jepawatch.model.config import MTSJEPAConfig


def test_paper_defaults():
    run = resolve_config("mts-jepa", preset="paper")
    m, t = run.model, run.train
    assert (m.window, m.n_patches, m.patch_len, m.d_model, m.codebook_size, m.temperature) == (100, 5, 20, 256, 128, 0.1)
    assert (m.encoder_layers, m.encoder_heads, m.predictor_layers, m.predictor_heads, m.predictor_hidden) == (6, 8, 2, 4, 128)
    assert m.projection_hidden == (64, 32)
    assert (t.lr, t.weight_decay, t.batch_size, t.grad_clip, t.ema_decay, t.epochs, t.val_fraction) == (5e-4, 1e-5, 128, 0.5, 0.996, 100, 0.1)
    assert (m.lambda_rec_start, m.lambda_rec_end) == (0.5, 0.1)


def test_precedence_toml_then_set_then_flags(tmp_path):
    toml = tmp_path / "c.toml"
    toml.write_text("[model]\ntemperature = 0.2\nd_model = 64\nencoder_heads = 4\n[train]\nepochs = 7\nlr = 0.001\n")
    run = resolve_config("mts-jepa", toml, ["model.temperature=0.3", "lr=0.002", "use_coarse=false"], {"train": {"epochs": 3}})
    assert run.model.temperature == 0.3  # --set beats TOML
    assert run.model.d_model == 64  # TOML beats default
    assert run.model.use_coarse is False
    assert run.train.lr == 0.002
    assert run.train.epochs == 3  # flag beats TOML
    assert RunConfig.from_dict(run.to_dict()) == run


def test_an_absent_flag_does_not_override_the_toml(tmp_path):
    toml = tmp_path / "c.toml"
    toml.write_text('[train]\ndevice = "cpu"\n')
    assert resolve_config("mts-jepa", toml, [], {"train": {"device": None, "epochs": None}}).train.device == "cpu"


@pytest.mark.parametrize(
    "override, message",
    [
        ("model.temperatur=0.1", "did you mean model.temperature"),
        ("tempreature=0.1", "did you mean temperature"),
        ("nonsense", "expected key=value"),
        ("model.use_kl=maybe", "expected true or false"),
        ("model.window=33", "multiple of n_patches"),
    ],
)
def test_bad_overrides_are_refused_with_a_hint(override, message):
    with pytest.raises(ConfigError, match=message):
        resolve_config("mts-jepa", overrides=[override])


def test_bad_toml_is_refused(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[model\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        resolve_config("mts-jepa", bad)
    unknown = tmp_path / "unknown.toml"
    unknown.write_text("[optimizer]\nlr = 1\n")
    with pytest.raises(ConfigError, match="unknown section"):
        resolve_config("mts-jepa", unknown)


def test_presets_sit_under_the_toml_and_set(tmp_path):
    paper = resolve_config("mts-jepa", preset="paper")
    assert paper.model == MTSJEPAConfig() and paper.train.epochs == 100  # the paper's App. B.2, unchanged
    default = resolve_config("mts-jepa")  # the product's default preset
    assert default.model == resolve_config("mts-jepa", preset="watch").model
    assert (default.model.d_model, default.model.codebook_size, default.model.lambda_ent_batch) == (64, 32, 1.0)
    assert resolve_config("mts-jepa", overrides=["model.d_model=128"]).model.d_model == 128  # --set sits above it
    levels = resolve_config("mts-jepa", preset="levels")
    assert levels.model.revin_per_window is False and resolve_config("mts-jepa").model.revin_per_window is True
    toml = tmp_path / "c.toml"
    toml.write_text("[model]\nrevin_per_window = true\n")
    assert resolve_config("mts-jepa", config_file=toml, preset="levels").model.revin_per_window is True
    assert resolve_config("mts-jepa", overrides=["model.revin_per_window=true"], preset="levels").model.revin_per_window is True
    with pytest.raises(ConfigError, match="unknown preset 'fast'; choose one of watch, paper, levels"):
        resolve_config("mts-jepa", preset="fast")
    with pytest.raises(ConfigError, match="--preset is for mts-jepa"):
        resolve_config("temporal-jepa", preset="paper")


def test_a_bundles_train_section_is_checked_but_a_large_seed_is_fine():
    from jepawatch.run_config import RunConfig

    from conftest import tiny_run

    good = tiny_run().to_dict()
    good["train"]["seed"] = 2 ** 40
    assert RunConfig.from_dict(good).train.seed == 2 ** 40
    for key, value in (("batch_size", -5), ("val_fraction", 1.5), ("stride", -1), ("lr", float("inf"))):
        bad = tiny_run().to_dict()
        bad["train"][key] = value
        with pytest.raises(ValueError, match=key):
            RunConfig.from_dict(bad)
