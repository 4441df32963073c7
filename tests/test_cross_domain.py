"""Training on several sources and on long-format tables (segments), adapted bundles (`--adapt`), `--init`."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

import jepawatch
from jepawatch.adapters import ReadOptions
from jepawatch.bundle import load_bundle
from jepawatch.cli.app import app
from jepawatch.data.windows import segment_pairs, split_segments
from jepawatch.training.job import read_sources

from conftest import TINY_MTS, make_frame

TINY = dict(item.split("=", 1) for item in TINY_MTS)
WINDOW = 20
runner = CliRunner()


def other_system(rows: int = 1200, seed: int = 7) -> pd.DataFrame:
    """A system with channels of its own (names and count unlike make_frame's)."""
    rng = np.random.default_rng(seed)
    t = np.arange(rows)
    return pd.DataFrame({"timestamp": pd.date_range("2026-02-01", periods=rows, freq="s").astype(str),
                         "pump_pressure": 3 + np.sin(2 * np.pi * t / 23) + 0.2 * rng.standard_normal(rows),
                         "pump_flow": 10 * np.cos(2 * np.pi * t / 31) + rng.standard_normal(rows)})


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    """One bundle trained on two sources with different channels (3 + a constant, and 2)."""
    root = tmp_path_factory.mktemp("pretrained")
    make_frame(rows=500).to_csv(root / "web.csv", index=False)
    other_system(rows=400, seed=3).to_csv(root / "pumps.csv", index=False)
    monitor = jepawatch.train([root / "web.csv", root / "pumps.csv"], epochs=1, preset="paper", settings=TINY,
                              out=root / "models", name="pretrained", warn=lambda m: None)
    return root, monitor


def test_several_sources_with_different_channels_train_one_bundle_that_records_each(pretrained):
    root, monitor = pretrained
    bundle = monitor.bundle
    sources = bundle.data["sources"]
    assert [s["source"].split("/")[-1] for s in sources] == ["web.csv", "pumps.csv"]
    assert [s["preprocess"]["channels"] for s in sources] == [["ch0", "ch1", "ch2", "flag"], ["pump_pressure", "pump_flow"]]
    assert [s["channel_offset"] for s in sources] == [0, 3]  # each source its own channel indices
    assert bundle.run.model.n_channels == 5 and bundle.preprocess.kept_channels == ["ch0", "ch1", "ch2"]
    # each source standardised with its own statistics
    pumps = pd.read_csv(root / "pumps.csv")
    assert sources[1]["preprocess"]["mean"][1] == pytest.approx(pumps["pump_flow"].mean(), rel=1e-6)
    # the bundle scores data like its first source's without --adapt
    assert len(monitor.score(make_frame(rows=200, seed=5))) == 200 // WINDOW - 1


def test_pairs_of_a_long_format_table_never_cross_two_hosts(tmp_path):
    # host k's ch0 sits at level 100 k: a pair holding rows of two hosts would mix levels
    frames = []
    for k, n in enumerate([130, 95, 210]):  # not multiples of the window: the boundaries fall inside windows
        frame = make_frame(rows=n, seed=k, constant=False)
        frame["ch0"] += 100 * k
        frames.append(frame.assign(host=f"h{k}"))
    table = pd.concat(frames, ignore_index=True).sample(frac=1.0, random_state=0)
    path = tmp_path / "fleet.csv"
    table.to_csv(path, index=False)
    sources = read_sources([path], None, ReadOptions(series_column="host"), warn=lambda m: None)
    assert len(sources) == 1  # one source, one standardisation over every host
    segments = split_segments(sources[0].parts(0), WINDOW, 0.1)
    assert sorted(s.name.split(": ")[1] for s in segments) == ["h0", "h1", "h2"]  # in order of first appearance
    std = sources[0].preprocess.std[0]
    for part in ("train", "val"):
        for pairs in segment_pairs(segments, WINDOW, 5, part):
            for i in range(len(pairs)):
                context, target = pairs[i]
                levels = torch.cat([context[:, 0], target[:, 0]]) * std
                assert float(levels.max() - levels.min()) < 50, "a pair holds rows of two hosts"
    # trained end to end: the pairs are those of each host on its own
    result = runner.invoke(app, ["train", str(path), "--series-col", "host", "--out", str(tmp_path / "models"),
                                 "--epochs", "1", "--preset", "paper", *sum((["--set", s] for s in TINY_MTS), []), "--json"])
    assert result.exit_code == 0, result.output
    data = load_bundle(tmp_path / "models" / "fleet").data
    per_host = sum(len(p) for p in segment_pairs(segments, WINDOW, WINDOW))
    assert data["segments"] == 3 and data["train_pairs"] == per_host
    assert data["sources"][0]["series"] == 3 and data["sources"][0]["series_column"] == "host"


def test_a_series_id_column_is_found_by_name_and_short_series_are_left_out_with_a_warning(tmp_path):
    table = pd.concat([make_frame(rows=200, seed=1).assign(series_id="a"), make_frame(rows=30, seed=2).assign(series_id="b")])
    warnings = []
    monitor = jepawatch.train(table, epochs=1, preset="paper", settings=TINY, out=tmp_path / "models", warn=warnings.append)
    assert monitor.bundle.data["segments"] == 1
    assert any("1 series shorter than two windows" in w and "b" in w for w in warnings), warnings
