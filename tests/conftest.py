"""Shared fixtures: tiny model configs and small synthetic data (no real data, no GPU)."""

from __future__ import annotations

import os

# Tests see the built-in adapters and this repo's benchmark plugin, never whatever else is installed.
os.environ["JEPAWATCH_PLUGINS"] = "jepawatch-adapters"

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from jepawatch.adapters import installed  # noqa: E402
from jepawatch.config_sources import resolve_config  # noqa: E402

# A model small enough that a few epochs take a second or two on one CPU core.
TINY_MTS = [
    "model.window=20", "model.n_patches=4", "model.d_model=16", "model.codebook_size=8",
    "model.encoder_layers=1", "model.encoder_heads=2", "model.predictor_layers=1",
    "model.predictor_heads=2", "model.predictor_hidden=16", "model.tokenizer_channels=4",
    "model.projection_hidden=8,8", "model.decoder_hidden=16", "train.batch_size=16",
]
TINY_TEMPORAL = [
    "model.seq_len=20", "model.embed_dim=16", "model.predictor_embed_dim=8", "model.encoder_depth=1",
    "model.num_heads=2", "train.batch_size=8",
]


def tiny_run(kind: str = "mts-jepa", extra: list[str] | None = None, **train):
    """A tiny run on the paper's settings (the loss weights the model tests check are the paper's)."""
    overrides = (TINY_MTS if kind == "mts-jepa" else TINY_TEMPORAL) + (extra or [])
    return resolve_config(kind, overrides=overrides, flags={"train": train}, preset="paper" if kind == "mts-jepa" else None)


def make_frame(rows: int = 400, channels: int = 3, seed: int = 0, constant: bool = True) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    t = np.arange(rows)
    data = {"timestamp": pd.date_range("2026-01-01", periods=rows, freq="s").astype(str)}
    for c in range(channels):
        data[f"ch{c}"] = np.sin(2 * np.pi * t / (17 + 5 * c)) + 0.1 * rng.standard_normal(rows)
    if constant:
        data["flag"] = 1.0
    return pd.DataFrame(data)


@pytest.fixture
def csv_file(tmp_path):
    path = tmp_path / "metrics.csv"
    make_frame().to_csv(path, index=False)
    return path


@pytest.fixture
def fresh_registry():
    """Reload plugins after a test changes JEPAWATCH_PLUGINS or sys.path, and again after it."""
    installed.cache_clear()
    yield
    installed.cache_clear()


def make_labelled_frame(rows: int = 4000, window: int = 20, seed: int = 0, channels: int = 3) -> pd.DataFrame:
    """Sine channels with anomalies (a level jump, labelled) that a precursor announces: in the window
    before each anomaly, channel 0 oscillates fast. Windows are aligned to `window`."""
    rng = np.random.default_rng(seed)
    t = np.arange(rows)
    data = {f"ch{c}": np.sin(2 * np.pi * t / (17 + 5 * c)) + 0.1 * rng.standard_normal(rows) for c in range(channels)}
    label = np.zeros(rows, dtype=int)
    n_windows = rows // window
    for w in range(3, n_windows - 1, 7):  # an anomaly every 7 windows, announced by window w - 1
        start = w * window + int(rng.integers(0, window // 2))
        stop = min(start + window // 2, rows)
        label[start:stop] = 1
        data["ch1"][start:stop] += 4.0
        pre = slice((w - 1) * window, w * window)
        data["ch0"][pre] += 1.5 * np.sign(np.sin(np.pi * np.arange(window) / 2))
    return pd.DataFrame({"timestamp": pd.date_range("2026-01-01", periods=rows, freq="min").astype(str), **data,
                         "label": label})


def write_labelled_split(root, rows: int = 3000, train_rows: int = 1600, scored_name: str = "test.csv"):
    """A labelled series split in time order: its first `train_rows` rows (labels dropped) as
    root/train.csv, the rest (with labels) as root/`scored_name`."""
    frame = make_labelled_frame(rows=rows)
    frame.iloc[:train_rows].drop(columns="label").to_csv(root / "train.csv", index=False)
    frame.iloc[train_rows:].to_csv(root / scored_name, index=False)


def train_tiny(root, epochs: int = 1, kind: str = "mts-jepa", extra: list[str] | None = None, name: str | None = None):
    """The path of a tiny bundle trained on root/train.csv into root/models (the defaults, tiny sizes)."""
    from jepawatch.jobs.train import TrainRequest, train

    overrides = (TINY_MTS if kind == "mts-jepa" else TINY_TEMPORAL) + (extra or [])
    run = resolve_config(kind, overrides=overrides, flags={"train": {"epochs": epochs}})
    return train(TrainRequest(data=root / "train.csv", run=run, out_dir=root / "models", name=name), warn=lambda m: None)


def tiny_monitor(root, epochs: int = 1, rows: int = 600):
    """A Monitor of a tiny paper-preset bundle trained through the API on root/metrics.csv (written here)."""
    import jepawatch

    data = root / "metrics.csv"
    make_frame(rows=rows).to_csv(data, index=False)
    settings = dict(item.split("=", 1) for item in TINY_MTS)
    return jepawatch.train(data, epochs=epochs, preset="paper", settings=settings, out=root / "models")


def append_in_pieces(path, text: str, rng, longest: int, pause: float) -> None:
    """Append `text` to `path` in random pieces of 1..`longest` characters (splitting lines mid-row),
    with random pauses of up to `pause` seconds: how a live writer looks to a follower."""
    import time

    i = 0
    while i < len(text):
        n = rng.randint(1, longest)
        with open(path, "a") as handle:
            handle.write(text[i:i + n])
        i += n
        time.sleep(rng.uniform(0, pause))


@pytest.fixture(scope="session")
def exported(tmp_path_factory):
    """A tiny bundle, calibrated (so the export has the head), exported into the bundle: (root, path,
    the export's output). Shared: a test that changes it works on a copy."""
    from typer.testing import CliRunner

    from jepawatch.cli.app import app

    root = tmp_path_factory.mktemp("export")
    write_labelled_split(root, rows=2400, train_rows=1200)
    path = train_tiny(root, epochs=1)
    calibrated = CliRunner().invoke(app, ["calibrate", str(root / "test.csv"), "--model", str(path)])
    assert calibrated.exit_code == 0, calibrated.output
    result = CliRunner().invoke(app, ["export", "--onnx", "--model", str(path)])
    assert result.exit_code == 0, result.output
    return root, path, result.output
