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
