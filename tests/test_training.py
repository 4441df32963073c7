"""The training job: bundles, selection, interruption, and resume equal to an uninterrupted run."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from jepawatch.bundle import load_bundle
from jepawatch.errors import DataError, TrainingInterrupted
from jepawatch.training.config import TrainConfig
from jepawatch.training.health import HealthAccumulator, collapse_warning
from jepawatch.jobs.train import TrainRequest, train

from conftest import make_frame, tiny_run


def _train(csv, out, epochs=3, resume=False, after_epoch=None, kind="mts-jepa", **kw):
    request = TrainRequest(data=csv, run=tiny_run(kind, epochs=epochs, seed=3, **kw), out_dir=out, name="m", resume=resume)
    return train(request, warn=lambda m: None, after_epoch=after_epoch)


def test_training_writes_a_bundle_with_history_and_code_frequencies(csv_file, tmp_path):
    path = _train(csv_file, tmp_path / "models")
    bundle = load_bundle(path)
    assert bundle.preprocess.kept_channels == ["ch0", "ch1", "ch2"]  # the constant "flag" is dropped
    assert bundle.preprocess.timestamp_column == "timestamp"
    assert len(bundle.history["epochs"]) == 3
    for record in bundle.history["epochs"]:
        for key in ("train_total", "train_kl_fine", "train_rec", "val_loss", "code_perplexity", "z_cov_trace"):
            assert key in record
    counts = bundle.code_frequencies
    assert set(counts) == {"fine_token", "fine_pooled", "coarse_token"}
    n_windows = 400 // 20 * 9 // 10  # training part of the 9:1 split
    assert sum(counts["fine_token"]) == n_windows * 3 * 4  # windows x channels x patches
    assert sum(counts["fine_pooled"]) == n_windows * 4
    assert (tmp_path / "models" / "LATEST").read_text().strip() == "m"
    assert not (path / "checkpoint.safetensors").exists()  # removed once training completes


def test_resume_ends_where_an_uninterrupted_run_ends(csv_file, tmp_path):
    full = _train(csv_file, tmp_path / "a", epochs=4)

    def interrupt_after_two(epoch):
        if epoch == 2:
            raise KeyboardInterrupt

    with pytest.raises(TrainingInterrupted, match="--resume"):
        _train(csv_file, tmp_path / "b", epochs=4, after_epoch=interrupt_after_two)
    assert (tmp_path / "b" / "m" / "checkpoint.safetensors").exists()
    resumed = _train(csv_file, tmp_path / "b", epochs=4, resume=True)

    a, b = load_file(str(full / "weights.safetensors")), load_file(str(resumed / "weights.safetensors"))
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert load_bundle(full).history == load_bundle(resumed).history


def test_temporal_jepa_trains_and_round_trips(csv_file, tmp_path):
    path = _train(csv_file, tmp_path / "models", kind="temporal-jepa")
    bundle = load_bundle(path)
    assert bundle.run.model_kind == "temporal-jepa"
    assert bundle.run.model.input_dim == 3
    assert bundle.code_frequencies is None
    assert "z_cov_trace" in bundle.history["epochs"][0]


def test_too_short_data_is_refused(tmp_path):
    path = tmp_path / "short.csv"
    make_frame(rows=39).to_csv(path, index=False)
    with pytest.raises(DataError, match="fewer than two windows"):
        _train(path, tmp_path / "models")


def test_selection_and_patience_scale_with_epochs():
    assert (TrainConfig(epochs=100).selection_start, TrainConfig(epochs=100).patience) == (50, 10)
    assert (TrainConfig(epochs=20).selection_start, TrainConfig(epochs=20).patience) == (10, 2)
    assert (TrainConfig(epochs=1).selection_start, TrainConfig(epochs=1).patience) == (1, 1)


def test_health_detects_collapse():
    diverse = HealthAccumulator()
    diverse.add_codes(torch.eye(4).repeat(8, 1))
    diverse.add_latents(torch.randn(32, 5))
    summary = diverse.summary()
    assert summary["code_perplexity"] == pytest.approx(4.0)
    assert summary["codes_used"] == 4
    assert collapse_warning(summary, 2.0) is None

    collapsed = HealthAccumulator()
    collapsed.add_codes(torch.tensor([[0.9, 0.05, 0.05]]).repeat(16, 1))
    collapsed.add_latents(torch.ones(16, 5))
    summary = collapsed.summary()
    assert summary["codes_used"] == 1
    assert summary["z_cov_trace"] == pytest.approx(0.0, abs=1e-9)
    assert "collapsed" in collapse_warning(summary, 2.0)


def test_a_diverged_run_saves_no_bundle_and_keeps_its_checkpoint(csv_file, tmp_path):
    from typer.testing import CliRunner

    from jepawatch.cli.app import app
    from conftest import TINY_MTS

    args = ["train", str(csv_file), "--out", str(tmp_path / "models"), "--name", "m", "--epochs", "2"]
    args += [a for item in [*TINY_MTS, "train.lr=1e8"] for a in ("--set", item)]
    result = CliRunner().invoke(app, args)
    text = " ".join(result.output.split())
    assert result.exit_code == 1, result.output
    assert "error: training diverged" in text and "no bundle was saved" in text and "checkpoint is kept" in text
    assert not (tmp_path / "models" / "m" / "config.json").exists()
    assert (tmp_path / "models" / "m" / "checkpoint.safetensors").exists()
    assert not (tmp_path / "models" / "LATEST").exists()


def test_a_long_epoch_is_said_up_front_with_the_whole_runs_time():
    from jepawatch.training.loop import EpochClock

    times = iter([0.0, 1.0, 6.0])
    clock = EpochClock(steps_per_epoch=100, epochs_left=20, now=lambda: next(times))
    assert clock.after(1) is None  # 1 s in: too early to tell
    said = clock.after(1)  # 6 s for one step of 100: 10 min an epoch
    assert said.startswith("an epoch takes about 10 min here (100 steps), the 20 epoch(s) left about 3.3 h")
    times = iter([0.0, 6.0])
    assert EpochClock(steps_per_epoch=100, epochs_left=20, now=lambda: next(times)).after(50) == ""  # 12 s: nothing
