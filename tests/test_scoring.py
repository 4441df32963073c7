"""Next-window risk: calibration, `score` (cron state, exit codes), `calibrate`, `evaluate` and the protocol."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from jepawatch.bundle import load_bundle
from jepawatch.cli.app import app
from jepawatch.config_sources import resolve_config
from jepawatch.data.windows import chronological_split
from jepawatch.evaluation.labelled import LabelledPairs
from jepawatch.evaluation.metrics import lead_times
from jepawatch.evaluation.protocol import run_protocol, split_points
from jepawatch.scoring.features import WindowSignals
from jepawatch.scoring.head import HeadConfig, best_f1_threshold
from jepawatch.scoring.label_free import COMPONENTS, FusedRisk, LegacyCalibration, component_values, risk_from_dict
from jepawatch.errors import ConfigError
from jepawatch.scoring.scorer import Scorer, ScoreSettings
from jepawatch.scoring.scored_windows import scorable_starts
from jepawatch.jobs.train import TrainRequest, train

from conftest import TINY_MTS, make_frame, make_labelled_frame, train_tiny, write_labelled_split

runner = CliRunner()
FAST_HEAD = HeadConfig(epochs=30)


def tiny_args() -> list[str]:
    return [arg for item in TINY_MTS for arg in ("--set", item)]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny bundle trained on the first half of a labelled series (labels ignored in training)."""
    root = tmp_path_factory.mktemp("scoring")
    write_labelled_split(root)
    return root, train_tiny(root, epochs=2)


def assert_one_line_error(result, *fragments):
    assert result.exit_code == 1, result.output
    text = " ".join(result.output.split())
    assert text.startswith("error:") and "Traceback" not in text, text
    for fragment in fragments:
        assert fragment in text, text


# --- the label-free risk -----------------------------------------------------------------------

def test_label_free_risk_of_the_validation_windows_is_uniform(trained):
    root, path = trained
    bundle = load_bundle(path)
    scorer = Scorer(bundle, torch.device("cpu"))
    frame = pd.read_csv(root / "train.csv")
    channels = [c for c in frame.columns if c != "timestamp"]
    series = bundle.preprocess.transform(frame[channels].to_numpy(np.float32), channels)
    val = chronological_split(series, scorer.window, bundle.run.train.val_fraction).val
    starts = scorable_starts(len(val), scorer.window, scorer.window // bundle.run.model.n_patches)  # every patch offset
    if len(starts) < 50:  # too few: the calibration takes a window at every row
        starts = scorable_starts(len(val), scorer.window, 1)
    assert bundle.risk["validation_windows"] == len(starts) and bundle.risk["part"] == "validation"
    training_windows = len(bundle.risk["training"]["stats_neighbours"])
    assert bundle.risk["windows"] == len(starts) + training_windows and training_windows > len(starts)
    risk, _, _ = scorer.risks(scorer.signals(val, starts))
    n = len(risk)
    assert n >= 5 and np.all((risk >= 0) & (risk < 1))
    # continuous and calibrated: the risk is calibrated on the validation windows and the training windows
    # (each against reference windows far from it), so between the fitted tails (10th to 90th percentile)
    # the held-out validation windows' risks follow the uniform CDF within the Kolmogorov-Smirnov bound
    # at the 1% level (1.63 / sqrt(n): 0.148 for 121 windows; a calibration on the training windows
    # compared with themselves, without the exclusion, puts them all near 0 and fails it)
    expected = (np.arange(n) + 0.5) / n
    body = (expected > 0.1) & (expected < 0.9)
    assert np.abs(np.sort(risk)[body] - expected[body]).max() <= 1.63 / np.sqrt(n)
    # in the upper tail, about 1% at 0.99: with n ~ 120 windows a calibrated 1% puts 5 or more there in
    # under 1% of cases (binomial), a tail three times too liberal (3%) in 30%, five times (5%) in 73%
    assert (risk >= 0.99).sum() <= max(4, 0.02 * n)


def _signals(n: int, v: int, rng, stats=None) -> WindowSignals:
    model = {k: torch.tensor(rng.random((n, v)), dtype=torch.float32) for k in ("surprise_fine", "surprise_coarse", "rarity")}
    stats = torch.tensor(rng.standard_normal((n, v, 5)), dtype=torch.float32) if stats is None else stats
    return WindowSignals(torch.zeros(n, 2, 3), torch.zeros(n, 2, dtype=torch.long), torch.zeros(n, dtype=torch.long),
                         torch.zeros(n, 2, dtype=torch.long), **model, stats=stats, recent_stats=stats * 0.5)


def _training_stats(rng, n: int, v: int) -> tuple[torch.Tensor, torch.Tensor]:
    stats = torch.tensor(rng.standard_normal((n, v, 5)), dtype=torch.float32)
    return stats, stats * 0.5


def test_fused_risk_ranks_an_unusual_window_higher_and_names_its_channel():
    rng = np.random.default_rng(0)
    n, v = 200, 4
    calibration = FusedRisk.fit(*_training_stats(rng, 400, v), _signals(n, v, rng), components=list(COMPONENTS))
    stats = torch.tensor(rng.standard_normal((3, v, 5)) * 0.3, dtype=torch.float32)
    stats[1, 2] += 6.0  # channel 2's level and spread far outside training
    stats[2, 2] += 60.0  # further still: beyond every validation window, the tail keeps growing
    odd = _signals(3, v, rng, stats)
    for k in ("surprise_fine", "surprise_coarse", "rarity"):
        getattr(odd, k).fill_(0.5)
    risk = calibration.risk(odd)
    assert risk[0] < 0.9 < 0.99 < risk[1] < risk[2] <= 1.0
    assert calibration.channel_scores(odd)[1].argmax() == 2  # the channel that moved drives the risk
    # continuous: a change of 1e-5 in the inputs moves the risk by far less than one validation window's share
    nudged = _signals(3, v, rng, stats + 1e-5)
    for k in ("surprise_fine", "surprise_coarse", "rarity"):
        getattr(nudged, k).fill_(0.5 + 1e-5)
    assert np.abs(calibration.risk(nudged) - risk).max() < 1e-3 / n
    # round trip through risk.json, and the ablation's recalibration without a component
    again = risk_from_dict(json.loads(json.dumps(calibration.to_dict())))
    np.testing.assert_allclose(again.risk(odd), risk)
    assert again.without("stats_neighbours").components == [c for c in COMPONENTS if c != "stats_neighbours"]


def test_the_max_fusion_keeps_the_strongest_evidence_and_round_trips():
    rng = np.random.default_rng(3)
    v = 3
    summed = FusedRisk.fit(*_training_stats(rng, 400, v), _signals(300, v, rng), components=["stats_deviation", "stats_neighbours"])
    strongest = summed.only(summed.components, fusion="max")
    odd = _signals(4, v, rng)
    values = component_values(odd, summed.reference)
    tails = np.stack([summed.tails[c].tail_score(values[c]) for c in summed.components])
    np.testing.assert_allclose(strongest.score(odd), tails.max(axis=0))
    np.testing.assert_allclose(summed.score(odd), tails.sum(axis=0))
    again = risk_from_dict(json.loads(json.dumps(strongest.to_dict())))
    assert again.fusion == "max" and np.allclose(again.risk(odd), strongest.risk(odd))
    older = {k: v for k, v in summed.to_dict().items() if k != "fusion"}  # a risk.json written before fusion existed
    assert risk_from_dict(older).fusion == "sum"
    with pytest.raises(ValueError, match="fusion"):
        summed.only(summed.components, fusion="product")


def test_fused_risk_alerts_on_about_the_share_of_validation_windows_its_level_says():
    rng = np.random.default_rng(1)
    n, v = 2000, 3
    validation = _signals(n, v, rng)
    calibration = FusedRisk.fit(*_training_stats(rng, 500, v), validation, components=list(COMPONENTS))
    fresh = _signals(n, v, np.random.default_rng(2))  # more normal windows from the same distribution
    rate = (calibration.risk(fresh) >= 0.99).mean()
    assert 0.003 <= rate <= 0.02, rate


def test_bundles_with_the_earlier_risk_formula_still_score():
    legacy = risk_from_dict({"center": [0.0, 0.0, 0.0], "scale": [1.0, 1.0, 1.0], "reference": [-1.0, 0.0, 1.0, 2.0]})
    assert isinstance(legacy, LegacyCalibration)
    risk = legacy.risk(_signals(5, 2, np.random.default_rng(0)))
    assert risk.shape == (5,) and np.all((risk >= 0) & (risk <= 1))


# --- score -------------------------------------------------------------------------------------

def test_cron_runs_over_a_growing_file_score_every_window_exactly_once(trained, tmp_path):
    root, path = trained
    full = pd.read_csv(root / "test.csv")
    live, out, state = tmp_path / "live.csv", tmp_path / "scores.jsonl", tmp_path / "state.json"
    for rows in (500, 730, len(full)):  # the file grows between runs; 730 ends mid-window
        full.iloc[:rows].to_csv(live, index=False)
        result = runner.invoke(app, ["score", str(live), "--model", str(path), "--out", str(out), "--state", str(state)])
        assert result.exit_code == 0, result.output
    incremental = pd.read_json(out, lines=True)
    once = tmp_path / "once.jsonl"
    result = runner.invoke(app, ["score", str(live), "--model", str(path), "--out", str(once)])
    assert result.exit_code == 0, result.output
    whole = pd.read_json(once, lines=True)
    window = 20
    assert incremental["window_start"].tolist() == list(range(window, len(full) - window + 1, window))
    pd.testing.assert_frame_equal(incremental, whole)  # same windows, same risks, nothing twice


def test_a_crash_before_the_state_is_saved_repeats_nothing(trained, tmp_path):
    root, path = trained
    pd.read_csv(root / "test.csv").iloc[:600].to_csv(tmp_path / "live.csv", index=False)
    args = ["score", str(tmp_path / "live.csv"), "--model", str(path), "--out", str(tmp_path / "s.csv"),
            "--state", str(tmp_path / "st.json")]
    assert runner.invoke(app, args).exit_code == 0
    saved = (tmp_path / "st.json").read_text()
    first = pd.read_csv(tmp_path / "s.csv")
    pd.read_csv(root / "test.csv").iloc[:900].to_csv(tmp_path / "live.csv", index=False)
    assert runner.invoke(app, args).exit_code == 0
    (tmp_path / "st.json").write_text(saved)  # as if the run had crashed after writing its output
    assert runner.invoke(app, args).exit_code == 0
    again = pd.read_csv(tmp_path / "s.csv")
    assert again["window_start"].is_unique and len(again) == 900 // 20 - 1
    pd.testing.assert_frame_equal(again.iloc[: len(first)], first)


def test_fail_on_alert_exit_code(trained, tmp_path):
    root, path = trained
    data = str(root / "test.csv")
    loud = runner.invoke(app, ["score", data, "--model", str(path), "--alert-at", "0", "--fail-on-alert", "--out", str(tmp_path / "a.csv")])
    assert loud.exit_code == 3, loud.output
    quiet = runner.invoke(app, ["score", data, "--model", str(path), "--alert-at", "1", "--fail-on-alert", "--out", str(tmp_path / "b.csv")])
    assert quiet.exit_code == 0, quiet.output
    rows = pd.read_csv(tmp_path / "a.csv")
    # every window alerts, until "the data moved" notice takes the place of an alert a window
    noticed = rows["notice"].notna()
    assert (rows["next_window_risk"] >= 0).all() and rows["alert"][~noticed].all() and noticed.any()
    assert rows["drivers"].str.count(",").eq(2).all()
    assert set(rows["risk_source"]) == {"label-free"} and rows["next_window_risk"].between(0, 1).all()


def test_score_prints_json_lines_when_piped(trained):
    root, path = trained
    result = runner.invoke(app, ["score", str(root / "test.csv"), "--model", str(path)])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert len(lines) == 1400 // 20 - 1
    assert {"next_window_risk", "alert", "regime", "coarse_regime", "next_regime", "drivers", "surprise_fine",
            "surprise_coarse", "start_time"} <= set(lines[0])
    assert len(lines[0]["regime"].split()) == 4  # one code per patch (tiny config: 4 patches)


def test_score_bad_inputs_are_one_line_errors(trained, tmp_path):
    root, path = trained
    frame = pd.read_csv(root / "test.csv").drop(columns="ch2")
    frame.to_csv(tmp_path / "wrong.csv", index=False)
    assert_one_line_error(runner.invoke(app, ["score", str(tmp_path / "wrong.csv"), "--model", str(path)]),
                          "lacks channels the model needs: 'ch2'")
    assert_one_line_error(runner.invoke(app, ["score", str(root / "test.csv"), "--model", str(path), "--out", "x.txt"]),
                          "write .jsonl, .csv or .parquet")
    (tmp_path / "state.json").write_text("{not json")
    assert_one_line_error(runner.invoke(app, ["score", str(root / "test.csv"), "--model", str(path), "--state",
                                              str(tmp_path / "state.json")]), "is unreadable", "delete it")
    state = tmp_path / "s2.json"
    pd.read_csv(root / "test.csv").to_csv(tmp_path / "live.csv", index=False)
    assert runner.invoke(app, ["score", str(tmp_path / "live.csv"), "--model", str(path), "--state", str(state)]).exit_code == 0
    pd.read_csv(root / "test.csv").iloc[:300].to_csv(tmp_path / "live.csv", index=False)
    assert_one_line_error(runner.invoke(app, ["score", str(tmp_path / "live.csv"), "--model", str(path), "--state", str(state)]),
                          "were seen before", "replaced or truncated")
    assert_one_line_error(runner.invoke(app, ["score", str(root / "test.csv"), "--model", str(path), "--state", str(state),
                                              "--stride", "5"]), "was made with --stride 20")


def test_score_refuses_another_models_state_a_corrupted_bundle_and_an_empty_file(trained, tmp_path):
    root, path = trained
    import shutil

    state = tmp_path / "state.json"
    assert runner.invoke(app, ["score", str(root / "test.csv"), "--model", str(path), "--state", str(state)]).exit_code == 0
    record = json.loads(state.read_text())
    record["weights_sha256"] = "0" * 64
    state.write_text(json.dumps(record))
    assert_one_line_error(runner.invoke(app, ["score", str(root / "test.csv"), "--model", str(path), "--state", str(state)]),
                          "belongs to another model")
    broken = tmp_path / "broken"
    shutil.copytree(path, broken)
    with open(broken / "weights.safetensors", "r+b") as handle:
        handle.seek(200)
        handle.write(b"\x00\x01\x02")
    assert_one_line_error(runner.invoke(app, ["score", str(root / "test.csv"), "--model", str(broken)]), "corrupted")
    (tmp_path / "empty.csv").write_text("")
    assert_one_line_error(runner.invoke(app, ["score", str(tmp_path / "empty.csv"), "--model", str(path)]), "is empty")


def test_temporal_jepa_bundles_are_not_scored(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    make_frame(rows=300).to_csv("d.csv", index=False)
    args = ["--set", "model.seq_len=20", "--set", "model.embed_dim=16", "--set", "model.predictor_embed_dim=8",
            "--set", "model.encoder_depth=1", "--set", "model.num_heads=2"]
    assert runner.invoke(app, ["train", "d.csv", "--model", "temporal-jepa", "--epochs", "1", *args]).exit_code == 0
    assert_one_line_error(runner.invoke(app, ["score", "d.csv"]), "temporal-jepa bundle")


# --- calibrate and evaluate ---------------------------------------------------------------------

def test_calibrate_stores_a_head_that_score_then_uses(trained, tmp_path):
    root, path = trained
    import shutil

    bundle_copy = tmp_path / "bundle"
    shutil.copytree(path, bundle_copy)
    result = runner.invoke(app, ["calibrate", str(root / "test.csv"), "--model", str(bundle_copy)])
    assert result.exit_code == 0, result.output
    bundle = load_bundle(bundle_copy)  # checksums still hold
    assert 0 <= bundle.head["threshold"] <= 1 and bundle.head_state
    assert bundle.head["train_windows"] + bundle.head["threshold_windows"] == 1400 // 20 - 1
    scored = runner.invoke(app, ["score", str(root / "test.csv"), "--model", str(bundle_copy), "--out", str(tmp_path / "s.csv")])
    rows = pd.read_csv(tmp_path / "s.csv")
    assert scored.exit_code == 0 and set(rows["risk_source"]) == {"supervised"}
    clear = (rows["next_window_risk"] - bundle.head["threshold"]).abs() > 1e-5  # rows round risks to 6 decimals
    assert (rows["alert"] == (rows["next_window_risk"] >= bundle.head["threshold"]))[clear].all()
    no_labels = runner.invoke(app, ["calibrate", str(root / "train.csv"), "--model", str(bundle_copy)])
    assert_one_line_error(no_labels, "has no labels", "--label-col")


def test_calibrate_head_reads_codes_and_window_statistics_and_score_builds_the_same_input(trained, tmp_path):
    import shutil

    from jepawatch.errors import BundleError
    from jepawatch.scoring.features import window_statistics
    from jepawatch.scoring.head import head_from_bundle, predict

    root, path = trained
    with_stats, codes_only = tmp_path / "with_stats", tmp_path / "codes_only"
    shutil.copytree(path, with_stats)
    shutil.copytree(path, codes_only)
    assert runner.invoke(app, ["calibrate", str(root / "test.csv"), "--model", str(with_stats)]).exit_code == 0
    assert runner.invoke(app, ["calibrate", str(root / "test.csv"), "--model", str(codes_only), "--features", "codes"]).exit_code == 0
    stats_bundle, codes_bundle = load_bundle(with_stats), load_bundle(codes_only)
    n_channels, cfg = len(stats_bundle.preprocess.kept_channels), stats_bundle.run.model
    assert stats_bundle.head["features"] == "codes+stats" and stats_bundle.head["stats_shape"] == [n_channels, 5]
    assert stats_bundle.head["n_features"] == cfg.n_patches * cfg.codebook_size + 5 * n_channels
    assert codes_bundle.head["features"] == "codes" and codes_bundle.head["n_features"] == cfg.n_patches * cfg.codebook_size
    head, _ = head_from_bundle(stats_bundle.head, stats_bundle.head_state)
    assert head.stats_std.min() > 0 and not torch.equal(head.stats_mean, torch.zeros_like(head.stats_mean))

    # score's risk for each window == the head on (pooled codes, statistics of that very window)
    scored = runner.invoke(app, ["score", str(root / "test.csv"), "--model", str(with_stats), "--out", str(tmp_path / "s.csv")])
    assert scored.exit_code == 0, scored.output
    rows = pd.read_csv(tmp_path / "s.csv")
    scorer = Scorer(stats_bundle, torch.device("cpu"))
    frame = pd.read_csv(root / "test.csv")
    series = stats_bundle.preprocess.transform(frame[stats_bundle.preprocess.channels].to_numpy(np.float32),
                                               stats_bundle.preprocess.channels)
    starts = rows["window_start"].to_numpy()
    windows = torch.from_numpy(series[starts[:, None] + np.arange(cfg.window)])
    expected = predict(head, head.inputs(scorer.signals(series, starts).pooled, window_statistics(windows)))
    np.testing.assert_allclose(rows["next_window_risk"], expected, atol=2e-6)
    shuffled = predict(head, head.inputs(scorer.signals(series, starts).pooled, window_statistics(windows.flip(0))))
    assert np.abs(shuffled - expected).max() > 1e-3  # the statistics do move the risk

    # a head saved before `features` was recorded reads codes; an unknown input is refused
    old_meta = {k: v for k, v in codes_bundle.head.items() if k != "features"}
    assert head_from_bundle(old_meta, codes_bundle.head_state)[0].features == "codes"
    with pytest.raises(BundleError, match="upgrade jepawatch"):
        head_from_bundle({**codes_bundle.head, "features": "pixels"}, codes_bundle.head_state)
    assert_one_line_error(runner.invoke(app, ["calibrate", str(root / "test.csv"), "--model", str(codes_only), "--features", "pixels"]),
                          "--features must be one of codes, codes+stats")


def test_evaluate_json_reports_the_protocol_and_what_it_hides(trained):
    root, path = trained
    result = runner.invoke(app, ["evaluate", str(root / "test.csv"), "--model", str(path), "--seeds", "2", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["pairs"]["train"]["windows"] + report["pairs"]["val"]["windows"] + report["pairs"]["test"]["windows"] == 69
    for key in ("f1", "precision", "recall", "auc", "auprc", "auc_normal_context", "mean_lead_steps"):
        assert key in report["model_head"] and key in report["raw_stats_head"]
    for key in ("base_rate", "always_positive_f1", "label_free_auc", "continuation_share"):
        assert key in report
    assert len(report["per_seed"]["model_head"]) == 2
    table = runner.invoke(app, ["evaluate", str(root / "test.csv"), "--model", str(path), "--seeds", "1"])
    assert table.exit_code == 0 and "always +" in table.output and "label-free" in table.output


# --- the protocol, on features with a planted precursor -----------------------------------------

def planted_pairs(n: int = 300, seed: int = 0) -> LabelledPairs:
    """Feature 0 of the pooled codes is high exactly when the next window is anomalous."""
    rng = np.random.default_rng(seed)
    target = (rng.random(n) < 0.2).astype(np.uint8)
    pooled = torch.rand(n, 2, 3, generator=torch.Generator().manual_seed(seed)) * 0.5
    pooled[:, 0, 0] += torch.as_tensor(target, dtype=torch.float32) * 2.0
    context = np.concatenate([[0], target[:-1]]).astype(np.uint8)
    window = 10
    steps = np.repeat(np.concatenate([context[:1], target]), window)
    return LabelledPairs(features=pooled, raw_stats=torch.randn(n, 3, 5), label_free_risk=rng.random(n), label_free_score=rng.random(n), target=target,
                         context=context, window=window, step_labels=steps)


def test_protocol_finds_a_planted_precursor_and_is_leak_free():
    pairs = planted_pairs()
    result = run_protocol(pairs, seeds=[0, 1], head_cfg=FAST_HEAD)
    assert split_points(len(pairs)) == (180, 240)
    assert [result["pairs"][p]["windows"] for p in ("train", "val", "test")] == [180, 60, 60]
    assert result["model_head"]["f1"]["mean"] > 0.9 and result["model_head"]["auc"]["mean"] > 0.95
    assert result["raw_stats_head"]["auc"]["mean"] < 0.8  # noise features carry nothing
    assert result["base_rate"] == pytest.approx(pairs.target[240:].mean())
    # changing the test labels changes the test metrics, never the threshold (chosen on validation)
    flipped = planted_pairs()
    flipped.target[240:] = 1 - flipped.target[240:]
    again = run_protocol(flipped, seeds=[0, 1], head_cfg=FAST_HEAD)
    assert [s["threshold"] for s in again["per_seed"]["model_head"]] == [s["threshold"] for s in result["per_seed"]["model_head"]]
    assert again["model_head"]["f1"]["mean"] < 0.5


def test_f1_threshold_and_lead_time():
    probabilities = np.array([0.1, 0.2, 0.8, 0.9, 0.3])
    labels = np.array([0, 0, 1, 1, 0])
    threshold = best_f1_threshold(probabilities, labels)
    assert 0.3 <= threshold < 0.8 and ((probabilities > threshold) == labels.astype(bool)).all()
    # windows of 10 steps; a segment starts at step 55 (target window 5); alerts on windows 3, 4, 5
    step_labels = np.zeros(80, dtype=np.uint8)
    step_labels[55:62] = 1
    alerts = np.array([False, True, True, True, False])  # for target windows 2..6
    targets = np.array([0, 0, 0, 1, 1])
    leads = lead_times(step_labels, 10, 2, alerts, targets)
    assert leads == {"segments": 1, "warned": 1, "mean_lead_steps": 25.0}  # 55 - start of window 3
    missed = lead_times(step_labels, 10, 2, np.zeros(5, dtype=bool), targets)
    assert missed["warned"] == 0 and np.isnan(missed["mean_lead_steps"])


def test_evaluate_needs_some_anomaly(trained, tmp_path):
    root, path = trained
    frame = pd.read_csv(root / "test.csv")
    frame["label"] = 0
    frame.to_csv(tmp_path / "nolabels.csv", index=False)
    assert_one_line_error(runner.invoke(app, ["evaluate", str(tmp_path / "nolabels.csv"), "--model", str(path), "--seeds", "1"]),
                          "no anomalous window")


def test_evaluate_without_positives_for_the_protocol_still_compares_the_label_free_risk(trained, tmp_path):
    root, path = trained
    frame = pd.read_csv(root / "test.csv")
    frame.loc[: int(len(frame) * 0.85), "label"] = 0  # anomalies only in the last part: no head can be trained
    frame.to_csv(tmp_path / "late.csv", index=False)
    result = runner.invoke(app, ["evaluate", str(tmp_path / "late.csv"), "--model", str(path), "--seeds", "1", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert "positives" in out["protocol_unavailable"] and "model_head" not in out
    scores = out["early_warning"]["scores"]["whole"]
    assert set(scores) == {"label_free_risk", "robust_z_max", "robust_z_sum", "isolation_forest", "knn", "pca_reconstruction"}
    assert all(0 <= v["next"] <= 1 for v in scores.values())


def test_paths_are_absolute_in_state(trained, tmp_path):
    root, path = trained
    state = tmp_path / "st.json"
    assert runner.invoke(app, ["score", str(root / "test.csv"), "--model", str(path), "--state", str(state)]).exit_code == 0
    assert Path(json.loads(state.read_text())["model"]) == path


def test_compare_measures_every_score_on_the_same_pairs_and_finds_the_best_baseline():
    from jepawatch.evaluation.early_warning import compare
    from jepawatch.evaluation.labelled import LabelledPairs

    window, n = 10, 60
    rng = np.random.default_rng(0)
    window_labels = (rng.random(n) < 0.25).astype(np.uint8)
    step_labels = np.repeat(window_labels, window)
    target, context = window_labels[1:], window_labels[:-1]
    perfect = target.astype(float) + 0.01 * rng.random(n - 1)  # knows the next window
    noise = rng.random(n - 1)
    pairs = LabelledPairs(features=torch.zeros(n - 1, 1), raw_stats=torch.zeros(n - 1, 1, 5),
                          label_free_risk=np.r_[np.nan, noise[1:]], label_free_score=np.r_[np.nan, noise[1:]], target=target, context=context, window=window,
                          step_labels=step_labels)
    out = compare(pairs, {"oracle": perfect, "random": noise}, calibration=None, alert_at=0.99)
    whole = out["scores"]["whole"]
    assert whole["oracle"]["next"] == 1.0 and whole["oracle"]["normal_context"] == 1.0
    assert out["best_baseline"]["whole"]["next"]["name"] == "oracle"
    assert out["best_baseline"]["whole"]["next"]["margin"] == pytest.approx(whole["label_free_risk"]["next"] - 1.0)
    assert out["events"]["alerts"] == int((noise[1:] >= 0.99).sum())


def test_evaluate_ablates_the_risk(trained, tmp_path):
    root, path = trained
    result = runner.invoke(app, ["evaluate", str(root / "test.csv"), "--model", str(path), "--seeds", "1", "--ablate-risk", "--json"])
    assert result.exit_code == 0, result.output
    ew = json.loads(result.stdout)["early_warning"]
    assert ew["risk_components"] == ["stats_neighbours"]
    assert {"risk, statistics components only", "risk, model components only", "risk, all components",
            "component surprise_fine alone"} <= set(ew["ablation"])
    whole = ew["scores"]["whole"]
    # the ablation that keeps exactly the bundle's components is the bundle's own risk
    assert whole["component stats_neighbours alone"]["next"] == pytest.approx(whole["label_free_risk"]["next"])
    text = runner.invoke(app, ["evaluate", str(root / "test.csv"), "--model", str(path), "--seeds", "1"])
    assert text.exit_code == 0 and "best baseline" in text.stdout and "per 1,000 normal windows" in " ".join(text.stdout.split())


def test_tail_cdf_is_continuous_increasing_and_extrapolates_both_ways():
    from jepawatch.scoring.tails import TailCDF

    reference = np.random.default_rng(0).standard_normal(500)
    tail = TailCDF.fit(reference)
    x = np.linspace(-6, 6, 4001)  # (far beyond, F rounds to 1.0 in floating point; the tail score keeps growing)
    f = tail.cdf(x)
    assert np.all(np.diff(f) > 0) and 0 < f[0] and f[-1] <= 1  # strictly increasing: no ties anywhere
    assert np.abs(np.diff(f)).max() < 0.01  # no jumps
    assert abs(tail.cdf(np.quantile(reference, 0.5)) - 0.5) < 0.01
    s = tail.tail_score(np.array([5.0, 10.0, 15.0]))
    assert s[0] < s[1] < s[2] and s[2] - s[1] == pytest.approx(s[1] - s[0])  # linear beyond the threshold
    constant = TailCDF.fit(np.zeros(50))
    assert constant.cdf(np.array([0.0]))[0] <= 0.5 and constant.tail_score(np.array([1.0]))[0] > 1000


def test_info_shows_the_risk_components_code_usage_and_a_rough_calibration(tmp_path):
    make_labelled_frame(rows=240).drop(columns="label").to_csv(tmp_path / "short.csv", index=False)
    run = resolve_config("mts-jepa", overrides=TINY_MTS, flags={"train": {"epochs": 1}})
    path = train(TrainRequest(data=tmp_path / "short.csv", run=run, out_dir=tmp_path / "models"), warn=lambda m: None)
    bundle = load_bundle(path)
    assert bundle.risk["windows"] < 50  # 240 training rows leave few calibration windows
    result = runner.invoke(app, ["info", str(path)], env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    text = " ".join(result.stdout.split())
    assert "label-free risk stats_neighbours; calibrated on" in text
    assert f"only {bundle.risk['windows']} windows (fewer than 50)" in text
    assert "codes dominant on training windows, perplexity" in text


def test_train_warns_in_one_line_when_few_windows_calibrate_the_risk(tmp_path):
    frame = make_labelled_frame(rows=240).drop(columns="label")
    frame.to_csv(tmp_path / "short.csv", index=False)
    result = runner.invoke(app, ["train", str(tmp_path / "short.csv"), "--out", str(tmp_path / "models"), "--epochs", "1",
                                 *[a for s in TINY_MTS for a in ("--set", s)]])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert text.count("calibrated on only") == 1 and "windows (fewer than 50): expect more alerts" in text, result.output


def test_evaluate_with_an_explicit_label_column_reads_training_data_without_one(trained):
    root, path = trained
    assert "label" not in pd.read_csv(root / "train.csv").columns
    result = runner.invoke(app, ["evaluate", str(root / "test.csv"), "--model", str(path), "--seeds", "1",
                                 "--label-col", "label", "--json"])
    assert result.exit_code == 0, result.output
    assert "early_warning" in json.loads(result.stdout)


def test_signals_carry_the_statistics_of_the_whole_window_and_of_its_last_patch(trained):
    from jepawatch.scoring.features import window_statistics

    root, path = trained
    scorer = Scorer(load_bundle(path), torch.device("cpu"))
    frame = pd.read_csv(root / "test.csv")
    channels = [c for c in frame.columns if c not in ("timestamp", "label")]
    series = scorer.bundle.preprocess.transform(frame[channels].to_numpy(np.float32), channels)
    starts = np.array([20, 47, 100])
    signals = scorer.signals(series, starts)
    windows = torch.from_numpy(series[starts[:, None] + np.arange(20)])
    torch.testing.assert_close(signals.window_stats, window_statistics(windows))
    torch.testing.assert_close(signals.recent_stats[..., :5], window_statistics(windows[:, -5:]))  # patch length 20 / 4
    # the sixth: roughness, the std of the first differences, of the whole window and of its last patch
    torch.testing.assert_close(signals.stats[..., 5], (windows[:, 1:] - windows[:, :-1]).std(1))
    torch.testing.assert_close(signals.recent_stats[..., 5], (windows[:, -4:] - windows[:, -5:-1]).std(1))


# --- operations: append-only outputs, the state's lock, refusing to overwrite the input ---------------

def test_incremental_jsonl_and_csv_outputs_are_appended_to_not_rewritten(trained, tmp_path):
    root, path = trained
    full = pd.read_csv(root / "test.csv")
    live = tmp_path / "live.csv"
    for suffix in (".jsonl", ".csv"):
        out, state = tmp_path / f"scores{suffix}", tmp_path / f"state{suffix}.json"
        args = ["score", str(live), "--model", str(path), "--out", str(out), "--state", str(state)]
        full.iloc[:500].to_csv(live, index=False)
        assert runner.invoke(app, args).exit_code == 0
        before, inode = out.read_bytes(), out.stat().st_ino
        full.iloc[:900].to_csv(live, index=False)
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        after = out.read_bytes()
        assert after.startswith(before) and len(after) > len(before), suffix  # the old rows untouched
        assert out.stat().st_ino == inode, suffix  # appended to, not replaced
    rows = [json.loads(line) for line in (tmp_path / "scores.jsonl").read_text().splitlines()]
    assert [r["window_start"] for r in rows] == list(range(20, 900 - 20 + 1, 20))
    assert all(isinstance(r["start_time"], str) and isinstance(r["end_time"], str) for r in rows)


def test_incremental_parquet_output_is_rewritten_losslessly(trained, tmp_path):
    root, path = trained
    full = pd.read_csv(root / "test.csv")
    live, out, state = tmp_path / "live.csv", tmp_path / "scores.parquet", tmp_path / "state.json"
    for rows in (500, 900):
        full.iloc[:rows].to_csv(live, index=False)
        assert runner.invoke(app, ["score", str(live), "--model", str(path), "--out", str(out), "--state", str(state)]).exit_code == 0
    once = tmp_path / "once.parquet"
    assert runner.invoke(app, ["score", str(live), "--model", str(path), "--out", str(once)]).exit_code == 0
    pd.testing.assert_frame_equal(pd.read_parquet(out), pd.read_parquet(once))


def test_a_second_run_on_a_locked_state_exits_75_with_one_line(trained, tmp_path):
    from jepawatch.locking import state_lock

    root, path = trained
    state = tmp_path / "state.json"
    with state_lock(state, 0):  # another run holds it
        result = runner.invoke(app, ["score", str(root / "test.csv"), "--model", str(path), "--state", str(state),
                                     "--lock-wait", "0.3"])
    assert result.exit_code == 75, result.output
    text = " ".join(result.output.split())
    assert text.startswith("error:") and "another run is using the state file" in text and not state.exists()
    result = runner.invoke(app, ["score", str(root / "test.csv"), "--model", str(path), "--state", str(state)])
    assert result.exit_code == 0, result.output  # released: the next run goes ahead
    fresh = tmp_path / "not" / "made" / "yet" / "state.json"  # the state's directory is made on first use
    result = runner.invoke(app, ["score", str(root / "test.csv"), "--model", str(path), "--state", str(fresh)])
    assert result.exit_code == 0 and fresh.exists(), result.output


def test_a_state_ahead_of_its_output_is_recovered_from_the_output(trained, tmp_path):
    root, path = trained
    full = pd.read_csv(root / "test.csv")
    live, out, state = tmp_path / "live.csv", tmp_path / "scores.jsonl", tmp_path / "state.json"
    args = ["score", str(live), "--model", str(path), "--out", str(out), "--state", str(state)]
    full.iloc[:500].to_csv(live, index=False)
    assert runner.invoke(app, args).exit_code == 0
    lines = out.read_text().splitlines(keepends=True)
    out.write_text("".join(lines[:7]))  # what two overlapping runs left: 7 rows, a state that says 24
    full.iloc[:900].to_csv(live, index=False)
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "holds 7 row(s) but the state says 24" in " ".join(result.output.split())
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["window_start"] for r in rows] == list(range(20, 900 - 20 + 1, 20))  # every window once
    assert runner.invoke(app, args).exit_code == 0  # and the next run is not stuck


def test_score_refuses_to_write_over_its_input_or_state(trained, tmp_path):
    root, path = trained
    data = tmp_path / "in.csv"
    pd.read_csv(root / "test.csv").iloc[:300].to_csv(data, index=False)
    before = data.read_bytes()
    (tmp_path / "link.csv").symlink_to(data)
    for out in (data, tmp_path / "." / "in.csv", tmp_path / "link.csv"):
        assert_one_line_error(runner.invoke(app, ["score", str(data), "--model", str(path), "--out", str(out)]),
                              "is the input")
    assert_one_line_error(runner.invoke(app, ["score", str(data), "--model", str(path), "--out", str(tmp_path / "s.jsonl"),
                                              "--state", str(tmp_path / "s.jsonl")]), "is the --state file")
    assert data.read_bytes() == before


def test_score_and_replay_say_when_rows_were_unreadable(trained, tmp_path):
    root, path = trained
    lines = (root / "test.csv").read_text().splitlines()
    header, body = lines[0], lines[1:401]
    switched = tmp_path / "switched.csv"  # rows switch to ';' after 40%: most rows have no readable channel
    switched.write_text("\n".join([header, *body[:160], *(line.replace(",", ";") for line in body[160:])]) + "\n")
    some = tmp_path / "some.csv"  # 10% of the rows use ';': a warning, the rest is scored
    some.write_text("\n".join([header, *(line.replace(",", ";") if i % 10 == 3 else line for i, line in enumerate(body))]) + "\n")
    for command in (["score"], ["watch", "--replay", "--jsonl"]):
        result = runner.invoke(app, [*command, str(switched), "--model", str(path)])
        assert_one_line_error(result, "240 of the first 400 rows have no readable channel value", "delimiter")
        result = runner.invoke(app, [*command, str(some), "--model", str(path)])
        assert result.exit_code == 0, result.output
        assert "40 of 400 rows had no readable channel value" in " ".join(result.output.split()), (command, result.output)


def test_decimal_commas_with_a_comma_delimiter_are_refused_by_score_replay_and_follow(trained, tmp_path):
    root, path = trained
    frame = pd.read_csv(root / "test.csv").iloc[:300]
    lines = [",".join(frame.columns)]
    for row in frame.itertuples(index=False):  # 3,364 for 3.364: every row splits into more fields than the header
        lines.append(",".join([row.timestamp, *(f"{v:.3f}".replace(".", ",") for v in (row.ch0, row.ch1, row.ch2)), str(row.label)]))
    data = tmp_path / "european.csv"
    data.write_text("\n".join(lines) + "\n")
    for command in (["score"], ["watch", "--replay", "--jsonl"]):
        assert_one_line_error(runner.invoke(app, [*command, str(data), "--model", str(path)]),
                              "do not have the header's 5 fields", "decimal commas")
    result = runner.invoke(app, ["watch", str(data), "--model", str(path), "--follow", "--jsonl", "--stop-after-idle", "0.3"])
    assert result.exit_code == 1 and "300 of the first 300 rows could not be read" in " ".join(result.output.split()), result.output


def test_quoted_line_breaks_in_channel_cells_are_reported(trained, tmp_path):
    root, path = trained
    lines = (root / "test.csv").read_text().splitlines()[:301]
    broken = [lines[0]]
    for i, line in enumerate(lines[1:]):
        fields = line.split(",")
        if i % 5 == 0:
            fields[2] = '"' + fields[2][:3] + "\n" + fields[2][3:] + '"'  # a line break inside a quoted number
        broken.append(",".join(fields))
    data = tmp_path / "broken.csv"
    data.write_text("\n".join(broken) + "\n")
    for command in (["score"], ["watch", "--replay", "--jsonl"]):
        result = runner.invoke(app, [*command, str(data), "--model", str(path)])
        assert result.exit_code == 0, result.output
        assert "60 of 900 cells were not numbers" in " ".join(result.output.split()), (command, result.output)


def test_short_training_data_calibrates_on_windows_at_every_row(tmp_path):
    """Too few windows at every patch offset: every row's window is used, so the alert level is not a coin toss."""
    frame = make_labelled_frame(rows=240).drop(columns="label")
    frame.to_csv(tmp_path / "short.csv", index=False)
    run = resolve_config("mts-jepa", overrides=TINY_MTS, flags={"train": {"epochs": 1}})
    path = train(TrainRequest(data=tmp_path / "short.csv", run=run, out_dir=tmp_path / "models"), warn=lambda m: None)
    bundle = load_bundle(path)
    series = bundle.preprocess.transform(frame.drop(columns="timestamp").to_numpy(np.float32), list(frame.columns[1:]))
    val = chronological_split(series, 20, bundle.run.train.val_fraction).val
    assert len(scorable_starts(len(val), 20, 5)) < 50  # too few at every patch offset ...
    assert bundle.risk["validation_windows"] == len(val) - 2 * 20 + 1 and bundle.risk["part"] == "validation"  # ... so every row


def test_a_patch_of_one_row_trains_and_scores(tmp_path):
    frame = make_labelled_frame(rows=1200).drop(columns="label")
    frame.to_csv(tmp_path / "d.csv", index=False)
    overrides = [o for o in TINY_MTS if not o.startswith("model.n_patches")] + ["model.window=8", "model.n_patches=8"]
    run = resolve_config("mts-jepa", overrides=overrides, flags={"train": {"epochs": 1}})
    path = train(TrainRequest(data=tmp_path / "d.csv", run=run, out_dir=tmp_path / "models"), warn=lambda m: None)
    result = runner.invoke(app, ["score", str(tmp_path / "d.csv"), "--model", str(path), "--out", str(tmp_path / "s.csv")])
    assert result.exit_code == 0, result.output
    assert pd.read_csv(tmp_path / "s.csv")["label_free_risk"].between(0, 1).all()


def test_evaluate_says_when_its_figures_are_in_sample_and_refuses_too_little_training_data(trained, tmp_path):
    root, path = trained
    same = runner.invoke(app, ["evaluate", str(root / "test.csv"), "--model", str(path), "--seeds", "1",
                               "--train-data", str(root / "test.csv"), "--json"])
    assert same.exit_code == 0, same.output
    assert "in-sample" in " ".join(same.stderr.split())
    pd.read_csv(root / "train.csv").iloc[:30].to_csv(tmp_path / "tiny.csv", index=False)
    assert_one_line_error(runner.invoke(app, ["evaluate", str(root / "test.csv"), "--model", str(path), "--seeds", "1",
                                              "--train-data", str(tmp_path / "tiny.csv")]), "need at least 2")


def test_the_pca_baseline_survives_an_svd_that_does_not_converge(monkeypatch):
    """LAPACK's gesdd fails on some real matrices (MSL); the PCA baseline then uses the covariance's
    eigendecomposition and scores as the SVD would."""
    import sklearn.decomposition._pca as pca_module

    from jepawatch.evaluation.baselines import fit_baselines

    windows = torch.from_numpy(np.random.default_rng(0).standard_normal((60, 10, 3)).astype(np.float32))
    expected = fit_baselines(windows)["pca_reconstruction"](windows)

    def failing_svd(*args, **kwargs):
        raise np.linalg.LinAlgError("SVD did not converge")

    monkeypatch.setattr(pca_module.linalg, "svd", failing_svd)
    with pytest.raises(np.linalg.LinAlgError):  # the failure is in place: the "full" solver fails now
        pca_module.PCA(n_components=0.9, svd_solver="full").fit(windows.double().flatten(1).numpy())
    scores = fit_baselines(windows)["pca_reconstruction"](windows)
    np.testing.assert_allclose(scores, expected, rtol=1e-6, atol=1e-9)


def test_the_alert_level_is_decided_in_one_place_and_range_checked(trained, tmp_path):
    """`score`, the API and the scorer read one rule (`scoring.alert_rule`); --alert-at is a one-line
    error unless a level from 0 to 1 (issue 30: 2 and 1.01 too); a bundle whose calibration records no level
    alerts at the default 0.99 everywhere."""
    import jepawatch
    from jepawatch.scoring.alert_rule import DEFAULT_ALERT_AT, alert_rule

    root, path = trained
    for bad in ("-0.2", "nan", "inf", "2", "1.01"):
        assert_one_line_error(runner.invoke(app, ["score", str(root / "test.csv"), "--model", str(path), "--alert-at", bad]),
                              f"--alert-at {float(bad):g}", "a risk level from 0 to 1")
    before = sorted(p.name for p in path.parent.iterdir())
    assert_one_line_error(runner.invoke(app, ["score", str(root / "test.csv"), "--model", str(path), "--alert-at", "-1",
                                              "--adapt", str(root / "train.csv")]), "--alert-at -1")
    assert sorted(p.name for p in path.parent.iterdir()) == before  # refused before --adapt wrote anything
    bundle = load_bundle(path)
    scorer = Scorer(bundle, torch.device("cpu"))
    monitor = jepawatch.Monitor(path)
    assert (monitor.risk_source, monitor.alert_at) == (scorer.risk_source, scorer.alert_at) == ("label-free", DEFAULT_ALERT_AT)
    bundle.risk = {k: v for k, v in bundle.risk.items() if k != "alert_at"}  # as an older bundle's risk.json
    assert alert_rule(bundle).alert_at == Scorer(bundle, torch.device("cpu")).alert_at == DEFAULT_ALERT_AT
    assert Scorer(bundle, torch.device("cpu"), ScoreSettings(alert_at=0.5)).alert_at == 0.5
    bundle.risk = None  # neither a head nor a calibration: no alert level (such a bundle cannot be scored)
    assert np.isnan(alert_rule(bundle).alert_at)


def test_stride_and_lock_wait_out_of_range_are_refused_before_anything_runs(trained, tmp_path):
    """--stride 0 used to mean the window length in silence; a negative --lock-wait was taken as 0."""
    root, path = trained
    data = str(root / "test.csv")
    for args, fragment in ((["--stride", "0"], "--stride 0"), (["--stride", "-3"], "--stride -3"),
                           (["--lock-wait", "-1"], "--lock-wait -1")):
        for command in (["score", data], ["watch", data, "--replay"]):
            assert_one_line_error(runner.invoke(app, [*command, "--model", str(path), *args, "--state",
                                                      str(tmp_path / "s.json")]), fragment)
    assert not (tmp_path / "s.json").exists()
    with pytest.raises(ConfigError, match="--stride 0"):
        Scorer(load_bundle(path), torch.device("cpu"), ScoreSettings(stride=0))  # the API's path too


def test_far_out_the_risk_keeps_its_order_and_says_how_far_in_one_in_n():
    """No two windows share the top risk unless their scores tie: beyond one in a million the tail decays
    hyperbolically (risk < 1 up to a billion scales out), rows keep every digit of the risk near 1, and
    `one_in` (1 / (1 - risk)) keeps growing; nearer in, the exponential tail is unchanged."""
    from jepawatch.scoring.risk_text import stored_risk
    from jepawatch.scoring.tails import FAR, TailCDF

    tail = TailCDF.fit(np.random.default_rng(0).exponential(size=500))
    far = np.array([20.0, 30.0, 40.0, 60.0, 98.3240, 98.3321, 100.0, 1e3, 1e5, 1e7])  # two 0.008 apart
    risk = tail.cdf(far)
    assert np.all(np.diff(risk) > 0) and np.all(risk < 1.0)
    stored = [stored_risk(r) for r in risk]
    assert len(set(stored)) == len(stored) and max(stored) < 1.0
    assert np.all(np.diff(1.0 / tail.survival(far)) > 0)
    near = np.linspace(tail.threshold, tail.threshold + 5 * tail.scale, 50)  # 1 - F from 10% down to ~0.07%
    exponential = 1.0 - (1.0 - tail.threshold_cdf) * np.exp(-(near - tail.threshold) / tail.scale)
    assert np.allclose(tail.cdf(near), exponential, rtol=0, atol=1e-15) and exponential.min() < 1 - 10 * FAR


def test_a_calibration_of_the_earlier_format_scores_as_before():
    """A bundle calibrated on its validation windows only (risk.json format fused-tails/1, before the
    training windows joined the calibration) keeps its risk: its tails come from the validation values."""
    from jepawatch.scoring.label_free import FusedRisk, risk_from_dict
    from jepawatch.scoring.tails import TailCDF

    rng = np.random.default_rng(3)
    stats, recent = _training_stats(rng, 300, 4)
    risk = FusedRisk.fit(stats, recent, _signals(120, 4, rng))
    old = {k: v for k, v in risk.to_dict().items() if k != "training"}
    assert old["format"] == "fused-tails/1"
    loaded = risk_from_dict(old)
    values = np.asarray(old["validation"]["stats_neighbours"])
    tail = TailCDF.fit(values)
    scores = tail.tail_score(values)
    assert np.allclose(loaded.risk_of_score(scores), TailCDF.fit(scores).cdf(scores))


def test_the_statistics_reference_sees_a_new_fast_oscillation_inside_the_normal_range_and_reads_older_bundles():
    """Roughness (the std of first differences) joins the statistics: a channel that picks up a fast
    oscillation within its usual range and spread is far from every training window; a reference of
    five statistics per channel (bundles before roughness) reads only those five of the scored windows."""
    from jepawatch.scoring.features import reference_statistics
    from jepawatch.scoring.stats_reference import StatsReference

    rng = np.random.default_rng(0)
    t = np.arange(40 * 400)
    smooth = np.sin(2 * np.pi * t / 200) + 0.1 * rng.standard_normal(len(t))
    windows = torch.tensor(smooth.reshape(400, 40, 1), dtype=torch.float32)
    stats = reference_statistics(windows)
    reference = StatsReference.fit(stats, reference_statistics(windows[:, -10:]))
    assert reference.n_statistics == 6
    fresh = np.sin(2 * np.pi * t[:400] / 200) + 0.1 * rng.standard_normal(400)  # new normal windows, not trained on
    level = torch.tensor(fresh.reshape(10, 40, 1), dtype=torch.float32)
    oscillating = level + 0.3 * torch.sin(torch.arange(40.0) * 2 * np.pi / 4).reshape(1, 40, 1)  # period 4, small
    assert oscillating.abs().max() < windows.abs().max() + 0.3 and oscillating.std(1).max() < 1.2 * windows.std(1).max()
    near = reference.neighbours(reference_statistics(level), reference_statistics(level[:, -10:]))
    far = reference.neighbours(reference_statistics(oscillating), reference_statistics(oscillating[:, -10:]))
    assert float(far.min()) > 3 * float(near.max())
    older = StatsReference.fit(stats[..., :5], reference_statistics(windows[:, -10:])[..., :5])
    assert older.n_statistics == 5
    torch.testing.assert_close(older.neighbours(reference_statistics(level), reference_statistics(level[:, -10:])),
                               older.neighbours(reference_statistics(level)[..., :5], reference_statistics(level[:, -10:])[..., :5]))


def test_a_file_too_short_to_score_says_how_many_rows_are_needed(trained, tmp_path):
    """Issue 30: fewer rows than a window and its predecessor scored nothing in silence."""
    root, path = trained
    pd.read_csv(root / "test.csv").iloc[:30].to_csv(tmp_path / "short.csv", index=False)
    result = runner.invoke(app, ["score", str(tmp_path / "short.csv"), "--model", str(path), "--out", str(tmp_path / "s.jsonl")])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "has 30 row(s): nothing to score" in text and "at least 40 rows" in text, text


def test_a_symlink_loop_as_data_is_a_one_line_error_with_out_too(trained, tmp_path):
    """Issue 30 item 1(a): with --out, checking that the output is not the input met the loop first
    (`internal error: RuntimeError: Symlink loop`)."""
    import os

    root, path = trained
    os.symlink(tmp_path / "b.csv", tmp_path / "a.csv")
    os.symlink(tmp_path / "a.csv", tmp_path / "b.csv")
    for extra in ([], ["--out", str(tmp_path / "o.jsonl")]):
        assert_one_line_error(runner.invoke(app, ["score", str(tmp_path / "a.csv"), "--model", str(path), *extra]),
                              "symlink loop")
    assert_one_line_error(runner.invoke(app, ["evaluate", str(root / "test.csv"), "--model", str(path), "--seeds", "1",
                                              "--train-data", str(tmp_path / "a.csv")]), "symlink loop")


def test_score_says_when_cells_had_no_value_infinite_or_na_text(trained, tmp_path):
    """Issue 30 item 5: training's reading report said so; score was silent (inf, 1e308 read as float32, 'n/a')."""
    root, path = trained
    frame = pd.read_csv(root / "test.csv").iloc[:400]
    channels = [c for c in frame.columns if c not in ("timestamp", "label")]
    cases = {"inf": np.inf, "huge": 1e308, "text": "n/a"}
    for name, value in cases.items():
        broken = frame.astype({channels[0]: object})
        broken.loc[broken.index % 5 < 2, channels[0]] = value  # 40% of one channel
        broken.to_csv(tmp_path / f"{name}.csv", index=False)
        result = runner.invoke(app, ["score", str(tmp_path / f"{name}.csv"), "--model", str(path),
                                     "--out", str(tmp_path / f"{name}.jsonl")])
        text = " ".join(result.output.split())
        assert result.exit_code == 0 and "160 of 1,200 channel cells had no value" in text, (name, text)
        assert ("of them infinite" in text) == (name != "text"), (name, text)
    clean = runner.invoke(app, ["score", str(root / "test.csv"), "--model", str(path), "--out", str(tmp_path / "c.jsonl")])
    assert "had no value" not in clean.output


def test_score_says_when_rows_are_out_of_time_order_or_repeat_a_time(trained, tmp_path):
    """Issue 30 item 5: shuffled rows were scored without comment (and every window alerted)."""
    root, path = trained
    frame = pd.read_csv(root / "test.csv").iloc[:600]
    assert "timestamp" in frame.columns
    frame.sample(frac=1, random_state=0).to_csv(tmp_path / "shuffled.csv", index=False)
    pd.concat([frame, frame.iloc[:60]]).sort_values("timestamp", kind="stable").to_csv(tmp_path / "dups.csv", index=False)
    for name, fragment in (("shuffled", "rows go back in time"), ("dups", "60 rows repeat the previous row's time")):
        result = runner.invoke(app, ["score", str(tmp_path / f"{name}.csv"), "--model", str(path),
                                     "--out", str(tmp_path / f"{name}.jsonl")])
        text = " ".join(result.output.split())
        assert result.exit_code == 0 and fragment in text and "sort the file by its time column" in text, (name, text)
    clean = runner.invoke(app, ["score", str(root / "test.csv"), "--model", str(path), "--out", str(tmp_path / "c.jsonl")])
    assert "time column" not in clean.output


def test_no_json_jepawatch_writes_holds_nan_or_infinity(tmp_path):
    from jepawatch.atomic import atomic_write_json, json_line
    from jepawatch.scoring.results import write_results

    def strict(text: str):
        return json.loads(text, parse_constant=lambda token: pytest.fail(f"{token} in JSON"))

    row = {"window_start": 0, "next_window_risk": float("nan"), "one_in": float("inf"), "drivers": "a"}
    assert strict(json_line(row)) == {"window_start": 0, "next_window_risk": None, "one_in": None, "drivers": "a"}
    write_results(tmp_path / "rows.jsonl", [row])
    assert strict((tmp_path / "rows.jsonl").read_text())["one_in"] is None
    atomic_write_json(tmp_path / "state.json", {"values": [1.0, float("-inf")], "nested": {"x": float("nan")}})
    assert strict((tmp_path / "state.json").read_text()) == {"values": [1.0, None], "nested": {"x": None}}
