"""Issue 7's tools: `evaluate` on every ablation and the Temporal JEPA, head-input probes, and
`benchmarks/reproduce.py --quick` end to end on generated data in MSL's layout."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from jepawatch.cli.app import app
from jepawatch.evaluation.labelled import LabelledPairs
from jepawatch.evaluation.metrics import auc_interval
from jepawatch.evaluation.protocol import run_protocol
from jepawatch.scoring.head import HeadConfig

from conftest import make_labelled_frame, train_tiny, write_labelled_split

ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner()


def test_the_head_reads_window_statistics_only_when_asked():
    """Features carry nothing, the raw statistics carry the next label: codes+stats must find it."""
    rng = np.random.default_rng(0)
    n = 300
    target = (rng.random(n) < 0.2).astype(np.uint8)
    raw = torch.randn(n, 3, 5, generator=torch.Generator().manual_seed(1))
    raw[:, 1, 3] += torch.as_tensor(target, dtype=torch.float32) * 5.0  # channel 1's max announces it
    context = np.concatenate([[0], target[:-1]]).astype(np.uint8)
    noise = torch.rand(n, 2, 4, generator=torch.Generator().manual_seed(2))  # codes that carry nothing
    pairs = LabelledPairs(features=noise, raw_stats=raw, label_free_risk=np.full(n, np.nan), label_free_score=np.full(n, np.nan),
                          target=target, context=context, window=10,
                          step_labels=np.repeat(np.concatenate([context[:1], target]), 10))
    head = HeadConfig(epochs=30)
    alone = run_protocol(pairs, seeds=[0], head_cfg=head)
    together = run_protocol(pairs, seeds=[0], head_cfg=head, add_window_stats=True)
    assert together["model_head"]["auc"]["mean"] > 0.9
    assert together["model_head"]["auc"]["mean"] - alone["model_head"]["auc"]["mean"] > 0.2
    assert np.isnan(alone["label_free_auc"])


def test_auc_interval_is_wide_on_a_small_test_part_and_tight_on_a_clean_one():
    rng = np.random.default_rng(0)
    labels = np.r_[np.ones(18), np.zeros(129)].astype(int)
    assert auc_interval(labels, labels + 0.1 * rng.random(147)) == pytest.approx((1.0, 1.0))
    low, high = auc_interval(labels, rng.random(147))
    assert low < 0.5 < high and high - low > 0.2  # 18 positives: chance spans a wide interval
    assert np.isnan(auc_interval(np.zeros(10, dtype=int), rng.random(10))[0])


@pytest.fixture(scope="module")
def bundles(tmp_path_factory):
    root = tmp_path_factory.mktemp("ablations")
    write_labelled_split(root)
    paths = {}
    for name, kind, extra in (("full", "mts-jepa", []), ("no-codebook", "mts-jepa", ["model.use_codebook=false"]),
                              ("no-prediction", "mts-jepa", ["model.use_prediction=false"]),
                              ("temporal", "temporal-jepa", [])):
        paths[name] = train_tiny(root, epochs=1, kind=kind, extra=extra, name=name)
    return root, paths


def evaluate_json(root: Path, path: Path, *extra: str) -> dict:
    result = runner.invoke(app, ["evaluate", str(root / "test.csv"), "--model", str(path), "--seeds", "1", "--json", *extra])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


@pytest.mark.parametrize("name, kind, features, label_free", [
    ("full", "mts-jepa", "codes", True),
    ("no-codebook", "mts-jepa", "latent", False),
    ("no-prediction", "mts-jepa", "codes", False),
    ("temporal", "temporal-jepa", "context", False),
])
def test_evaluate_runs_every_ablation_and_the_temporal_jepa(bundles, name, kind, features, label_free):
    root, paths = bundles
    report = evaluate_json(root, paths[name])
    assert report["model_kind"] == kind and report["features"] == features
    assert 0.0 <= report["model_head"]["auc"]["mean"] <= 1.0
    assert (report["label_free_auc"] is not None) == label_free
    assert (report["label_free_unavailable"] is None) == label_free


def test_evaluate_feature_probes_and_their_errors(bundles):
    root, paths = bundles
    for features in ("codes-mean", "latent", "codes+stats"):
        assert evaluate_json(root, paths["full"], "--features", features)["features"] == features
    for name, features, fragment in (("temporal", "codes", "does not apply to a temporal-jepa bundle"),
                                     ("no-codebook", "codes", "has no codes; use --features latent"),
                                     ("full", "pixels", "does not apply to a mts-jepa bundle")):
        result = runner.invoke(app, ["evaluate", str(root / "test.csv"), "--model", str(paths[name]), "--features", features])
        text = " ".join(result.output.split())
        assert result.exit_code == 1 and text.startswith("error:") and fragment in text, text


def test_reproduce_quick_runs_end_to_end_and_reuses_its_results(tmp_path):
    """MSL's concatenated layout with window-aligned anomalies and precursors, a subset of rows."""
    data = tmp_path / "msl"
    data.mkdir()
    train_frame = make_labelled_frame(rows=3000, window=100, seed=2)
    test_frame = make_labelled_frame(rows=4000, window=100, seed=3)
    channels = [c for c in train_frame.columns if c.startswith("ch")]
    np.save(data / "MSL_train.npy", train_frame[channels].to_numpy())
    np.save(data / "MSL_test.npy", test_frame[channels].to_numpy())
    np.save(data / "MSL_test_label.npy", test_frame["label"].to_numpy().astype(bool))
    out = tmp_path / "out"
    cmd = [sys.executable, str(ROOT / "benchmarks" / "reproduce.py"), "--quick", "--data", str(data), "--out", str(out),
           "--variants", "full,no-codebook,temporal-jepa", "--probes", "codes+stats", "--epochs", "1", "--seeds", "1"]
    first = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stdout + first.stderr
    results = json.loads((out / "results.json").read_text())
    assert [row["name"] for row in results["rows"]] == ["full", "no-codebook", "temporal-jepa", "full.codes+stats"]
    assert all(row["training"]["trained_here"] for row in results["rows"][:3])
    table = (out / "table.md").read_text()
    assert "| MTS-JEPA, full model | 33.58 ± 4.34 / 66.08 ± 3.25 |" in table
    assert "| Temporal JEPA (seed 002) | 25.49 / 60.33 |" in table and "always positive" in table
    second = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stdout + second.stderr
    again = json.loads((out / "results.json").read_text())
    assert not any(row["training"]["trained_here"] for row in again["rows"])  # bundles and results reused
    assert [row["result"]["model_head"] for row in again["rows"]] == [row["result"]["model_head"] for row in results["rows"]]
