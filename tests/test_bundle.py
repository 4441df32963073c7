"""Bundles round-trip from their files alone, and a damaged bundle is refused."""

from __future__ import annotations

import json

import pytest
import torch

from jepawatch.bundle import load_bundle, resolve_bundle_path
from jepawatch.errors import BundleError
from jepawatch.training.job import TrainRequest, train

from conftest import tiny_run


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from conftest import make_frame
    root = tmp_path_factory.mktemp("bundle")
    csv = root / "metrics.csv"
    make_frame().to_csv(csv, index=False)
    path = train(TrainRequest(data=csv, run=tiny_run(epochs=2, seed=1), out_dir=root / "models"), warn=lambda m: None)
    return path


def test_bundle_round_trips(trained):
    a = load_bundle(trained)
    b = load_bundle(trained)
    assert a.run == b.run and a.run.model.n_channels == 3
    x = torch.randn(2, 20, 3)
    torch.testing.assert_close(a.model.encode_window(x).codes.probs, b.model.encode_window(x).codes.probs)
    files = {p.name for p in trained.iterdir()}
    assert files == {"config.json", "weights.safetensors", "preprocess.json", "history.json", "code_frequencies.json", "risk.json"}
    assert not any(p.suffix in (".pt", ".pkl", ".pth") for p in trained.iterdir())


def test_latest_and_names_resolve(trained):
    models = trained.parent
    assert resolve_bundle_path(None, models) == models / "metrics"
    assert resolve_bundle_path("metrics", models) == models / "metrics"
    with pytest.raises(BundleError, match="bundles in"):
        resolve_bundle_path("nope", models)
    with pytest.raises(BundleError, match="jepawatch train"):
        resolve_bundle_path(None, models.parent / "empty")


@pytest.mark.parametrize("damage", ["flip_weights", "truncate_weights", "delete_preprocess", "garbage_config"])
def test_damaged_bundles_are_refused(trained, tmp_path, damage):
    import shutil
    copy = tmp_path / "copy"
    shutil.copytree(trained, copy)
    if damage == "flip_weights":
        data = bytearray((copy / "weights.safetensors").read_bytes())
        data[-10] ^= 0xFF
        (copy / "weights.safetensors").write_bytes(bytes(data))
    elif damage == "truncate_weights":
        (copy / "weights.safetensors").write_bytes((copy / "weights.safetensors").read_bytes()[:100])
    elif damage == "delete_preprocess":
        (copy / "preprocess.json").unlink()
    else:
        (copy / "config.json").write_text("{not json")
    with pytest.raises(BundleError, match="corrupted"):
        load_bundle(copy)


def test_config_json_records_everything_needed(trained):
    config = json.loads((trained / "config.json").read_text())
    assert config["model_kind"] == "mts-jepa"
    assert set(config) >= {"model", "train", "data", "files", "jepawatch_version", "created"}
    assert config["data"]["channels_in"] == 4 and config["data"]["channels_kept"] == 3


# --- hostile or diverged bundles: one-line errors, found at load time ----------------------------

def _rechecksum(copy) -> None:
    from jepawatch.bundle import _sha256

    config = json.loads((copy / "config.json").read_text())
    config["files"] = {name: _sha256(copy / name) for name in config["files"]}
    (copy / "config.json").write_text(json.dumps(config))


def _edit_json(name: str, change):
    def edit(copy):
        data = json.loads((copy / name).read_text())
        change(data)
        (copy / name).write_text(json.dumps(data))
    return edit


def _nan_weights(copy):
    from safetensors.torch import load_file, save_file

    weights = load_file(str(copy / "weights.safetensors"))
    key = next(k for k, v in weights.items() if v.is_floating_point())
    weights[key] = torch.full_like(weights[key], float("nan"))
    save_file(weights, str(copy / "weights.safetensors"))


HOSTILE = {  # name: (edit, re-checksum, what the error says)
    "non-finite weights": (_nan_weights, True, "non-finite values"),
    "zero scale": (_edit_json("preprocess.json", lambda d: d["std"].__setitem__(0, 0.0)), True, "non-positive"),
    "empty calibration": (_edit_json("risk.json", lambda d: d.__setitem__("reference", [])), True, "calibration is empty"),
    "non-finite calibration": (_edit_json("risk.json", lambda d: d["center"].__setitem__(0, float("nan"))), True, "non-finite"),
    "strings in risk.json": (_edit_json("risk.json", lambda d: d.__setitem__("scale", ["a", "b", "c"])), True, "not a list of numbers"),
    "channel list of the wrong length": (_edit_json("preprocess.json", lambda d: d["channels"].pop()), True, "kept flags"),
    "state dict of another shape": (_edit_json("config.json", lambda d: d["model"].__setitem__("d_model", 32)), False, "does not fit config.json"),
    "config.json an array": (lambda copy: (copy / "config.json").write_text("[]"), False, "not an object"),
    "files a list": (_edit_json("config.json", lambda d: d.__setitem__("files", list(d["files"]))), False, "files is not an object"),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_bundles_are_one_line_errors(trained, tmp_path, case):
    import shutil

    from typer.testing import CliRunner

    from jepawatch.cli.app import app

    edit, rechecksum, fragment = HOSTILE[case]
    copy = tmp_path / "copy"
    shutil.copytree(trained, copy)
    edit(copy)
    if rechecksum:
        _rechecksum(copy)
    with pytest.raises(BundleError, match="corrupted") as caught:
        load_bundle(copy)
    assert fragment in str(caught.value) and "\n" not in str(caught.value)
    data = tmp_path / "d.csv"
    (data).write_text("timestamp,ch0,ch1,ch2,flag\n")
    for command in (["info", str(copy)], ["score", str(data), "--model", str(copy)]):
        result = CliRunner().invoke(app, command)
        text = " ".join(result.output.split())
        assert result.exit_code == 1 and text.startswith("error:") and "internal error" not in text, (command, result.output)
