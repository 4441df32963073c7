"""`jepawatch refit` / `Monitor.refit`: the label-free reference refitted on recent data, without
retraining: a new operating point stops alerting, a creep that keeps moving is refused, operator
feedback decides what joins the reference, everything is recorded in the bundle and `--reset`
goes back to training's calibration."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import jepawatch
from jepawatch.cli.app import app
from jepawatch.feedback import Verdict, record_feedback
from jepawatch.scoring.refit import _runs, _spans, _widen

from conftest import train_tiny

runner = CliRunner()
WINDOW = 20  # TINY_MTS


def normal(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    t = np.arange(rows)
    data = {f"ch{c}": np.sin(2 * np.pi * t / (17 + 5 * c)) + 0.1 * rng.standard_normal(rows) for c in range(3)}
    return pd.DataFrame({"timestamp": pd.date_range("2026-01-01", periods=rows, freq="min").astype(str), **data})


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("refit")
    normal(1600, 0).to_csv(root / "train.csv", index=False)
    return train_tiny(root, epochs=2)


@pytest.fixture
def bundle(trained, tmp_path):
    """A copy of the trained bundle that a test may refit."""
    path = tmp_path / "models" / trained.name
    shutil.copytree(trained, path)
    return path


def alerting(monitor, frame: pd.DataFrame, rows: slice) -> float:
    """Share of the windows within `rows` (stride: the window) whose risk is at the alert level (the
    risk itself, before "the data moved" notice takes the place of its alerts)."""
    scored = monitor.score(frame.drop(columns=[c for c in ("label",) if c in frame]), warn=lambda m: None)
    inside = scored[(scored.window_start >= rows.start) & (scored.window_end < rows.stop)]
    assert len(inside) > 0
    return float((inside.next_window_risk >= monitor.alert_at).mean())


def cli(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_a_refit_on_the_new_operating_point_quiets_it_and_reset_goes_back(bundle, tmp_path):
    live = normal(2400, 1)
    live.loc[200:, "ch0"] += 3.0  # a new operating point from row 200 on
    live.loc[200:, "ch2"] -= 2.0
    live.to_csv(tmp_path / "live.csv", index=False)
    monitor = jepawatch.load(bundle)
    assert alerting(monitor, live, slice(1400, 2400)) > 0.9  # the old reference: every window alerts
    trained_risk = (bundle / "risk.json").read_bytes()

    live.iloc[:1400].to_csv(tmp_path / "stretch.csv", index=False)
    result = cli("refit", tmp_path / "stretch.csv", "--model", bundle, "--json")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["applied"] and not record["forced"] and record["rows"] == {"first": 0, "last": 1399, "reference": record["rows"]["reference"]}
    assert record["moved"]["channels"][0]["channel"] in ("ch0", "ch2") and record["moved"]["largest_level_shift"] > 0.3
    assert json.loads((bundle / "risk.trained.json").read_text()) == json.loads(trained_risk)  # training's kept
    assert alerting(jepawatch.load(bundle), live, slice(1400, 2400)) < 0.1  # the new regime is normal now
    info = jepawatch.load(bundle).info()
    assert info["refits"]["count"] == 1 and info["refits"]["last"]["applied"]

    result = cli("refit", "--model", bundle, "--reset")
    assert result.exit_code == 0, result.output
    assert json.loads((bundle / "risk.json").read_text()) == json.loads(trained_risk)
    assert alerting(jepawatch.load(bundle), live, slice(1400, 2400)) > 0.9
    assert [r["applied"] for r in json.loads((bundle / "refits.json").read_text())] == [True, True]


def test_the_guard_refuses_while_the_data_keeps_moving_away(bundle, tmp_path):
    live = normal(1200, 2)
    live.loc[700:, "ch1"] += np.linspace(0.0, 8.0, 500)  # a creep that has not stopped
    live.to_csv(tmp_path / "creep.csv", index=False)
    before = {name: (bundle / name).read_bytes() for name in ("risk.json", "config.json")}
    result = cli("refit", tmp_path / "creep.csv", "--model", bundle)
    assert result.exit_code == 1, result.output
    flat = " ".join(result.output.split())
    assert "error: the refit was refused" in flat and "still moving away" in flat and "Traceback" not in flat
    assert (bundle / "risk.json").read_bytes() == before["risk.json"]  # nothing applied
    history = json.loads((bundle / "refits.json").read_text())
    assert len(history) == 1 and not history[0]["applied"] and history[0]["check"]["alerting_after"] > 5

    result = cli("refit", tmp_path / "creep.csv", "--model", bundle, "--force", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["forced"] and (bundle / "risk.json").read_bytes() != before["risk.json"]


def test_a_marked_false_alarm_joins_the_reference_and_a_marked_incident_never_does(bundle, tmp_path):
    live = normal(2400, 3)
    odd = slice(600, 659)  # (.loc: both ends) three windows of a fast oscillation: alerts, in a run too short to be a shift
    live.loc[odd, "ch0"] += 1.5 * np.sign(np.sin(np.pi * np.arange(60) / 2))
    shifted = slice(1200, 1499)  # fifteen windows at another level: a long run, kept unless marked
    live.loc[shifted, "ch1"] += 4.0
    live.to_csv(tmp_path / "live.csv", index=False)
    odd_rows, shifted_rows = slice(600, 660), slice(1200, 1500)
    monitor = jepawatch.load(bundle)
    assert alerting(monitor, live, odd_rows) == 1.0 and alerting(monitor, live, shifted_rows) == 1.0

    plain = tmp_path / "plain"
    shutil.copytree(bundle, plain)
    jepawatch.load(plain).refit(tmp_path / "live.csv")  # no feedback: the short run left out, the long one kept
    assert alerting(jepawatch.load(plain), live, odd_rows) == 1.0
    assert alerting(jepawatch.load(plain), live, shifted_rows) == 0.0

    state = tmp_path / "state.json"
    feedback = tmp_path / "state.json.feedback.jsonl"
    record_feedback(feedback, Verdict("false_alarm", "600", "659"))
    record_feedback(feedback, Verdict("incident", "2026-01-01T20:00:00", "2026-01-02T00:59:00"))  # rows 1200-1499
    record = jepawatch.load(bundle).refit(tmp_path / "live.csv", state=state)
    assert record["applied"] and record["feedback"] == 2
    assert record["windows"]["left_out_rows"]["marked_incident"] >= 300
    monitor = jepawatch.load(bundle)
    assert alerting(monitor, live, odd_rows) == 0.0  # the marked false alarm no longer alerts
    assert alerting(monitor, live, shifted_rows) == 1.0  # the marked incident was never absorbed


def test_too_little_data_and_a_long_format_table_are_one_line_errors(bundle, tmp_path):
    normal(300, 4).to_csv(tmp_path / "short.csv", index=False)
    result = cli("refit", tmp_path / "short.csv", "--model", bundle)
    assert result.exit_code == 1 and "a refit needs at least 360 rows" in " ".join(result.output.split())
    result = cli("refit", "--model", bundle, "--reset")
    assert result.exit_code == 1 and "has never been refitted" in " ".join(result.output.split())
    result = cli("refit", "--model", bundle)
    assert result.exit_code == 1 and "give the recent DATA" in result.output
    assert not (bundle / "refits.json").exists()


def test_runs_spans_and_widening():
    assert _runs(np.array([0, 1, 1, 0, 1], dtype=bool)) == [[1, 2], [4]]
    assert _spans(np.array([1, 1, 0, 0, 1], dtype=bool)) == [(0, 2), (4, 5)]
    assert _widen(np.array([0, 0, 0, 1, 0, 0, 0], dtype=bool), 2).tolist() == [0, 1, 1, 1, 1, 1, 0]


def test_a_level_that_wanders_like_a_random_walk_is_told_from_noise_cycles_and_a_creep():
    from jepawatch.scoring.refit import wandering_channels

    rng = np.random.default_rng(0)
    n = 400  # window means
    walk = np.cumsum(rng.standard_normal(n))
    noise = rng.standard_normal(n)
    cycle = np.sin(2 * np.pi * np.arange(n) / 36) + 0.3 * rng.standard_normal(n)  # a daily cycle of 36 windows
    creep = 0.05 * np.arange(n) + 0.3 * rng.standard_normal(n)
    means = np.stack([walk, noise, cycle, creep, np.zeros(n)], axis=1)
    assert wandering_channels(means) == [0]
    assert wandering_channels(means[:100]) == []  # too few windows to tell: nothing is judged relative


def test_a_channel_judged_relative_to_its_window_mean_ignores_where_its_level_went_not_a_jump():
    import torch

    from jepawatch.scoring.features import reference_statistics
    from jepawatch.scoring.stats_reference import StatsReference, relative_levels

    rng = np.random.default_rng(1)
    windows = torch.tensor(rng.standard_normal((300, 20, 2)), dtype=torch.float32)
    stats, recent = reference_statistics(windows), reference_statistics(windows[:, -5:])
    absolute, relative = StatsReference.fit(stats, recent), StatsReference.fit(stats, recent, [1])
    fresh = torch.tensor(rng.standard_normal((20, 20, 2)), dtype=torch.float32)  # normal windows not in the reference
    moved = fresh.clone()
    moved[..., 1] += 6.0  # channel 1 wandered far from where training saw it
    jumped = fresh.clone()
    jumped[:, 10:, 1] += 6.0  # channel 1 jumps within the window
    for name, w in (("normal", fresh), ("moved", moved), ("jumped", jumped)):
        s, r = reference_statistics(w), reference_statistics(w[:, -5:])
        far = {"absolute": absolute.neighbours(s, r).mean().item(), "relative": relative.neighbours(s, r).mean().item()}
        if name == "normal":
            normal = far
        elif name == "moved":
            assert far["absolute"] > 3 * normal["absolute"] and far["relative"] < 1.5 * normal["relative"]
        else:
            assert far["relative"] > 3 * normal["relative"]
    again = relative_levels(*relative_levels(stats, recent, [1]), [1])
    assert torch.equal(again[0], relative_levels(stats, recent, [1])[0])  # applying it twice changes nothing
    assert StatsReference.from_dict(relative.to_dict()).relative == [1] and "relative" not in absolute.to_dict()


def test_score_and_watch_refit_every_n_windows_with_the_count_kept_in_the_state(bundle, tmp_path):
    live = normal(2400, 5)
    live.loc[200:, "ch0"] += 3.0  # a new operating point from row 200 on
    live.iloc[:1600].to_csv(tmp_path / "live.csv", index=False)
    state = tmp_path / "state.json"
    result = cli("score", tmp_path / "live.csv", "--model", bundle, "--state", state, "--refit-every", 15,
                 "--out", tmp_path / "rows.jsonl")
    assert result.exit_code == 0, result.output
    assert "refit on the newest" in result.output
    history = json.loads((bundle / "refits.json").read_text())
    assert history and all(r["applied"] for r in history)
    assert json.loads(state.read_text())["windows_since_refit"] < 15
    rows = [json.loads(line) for line in (tmp_path / "rows.jsonl").read_text().splitlines()]
    late = [r["next_window_risk"] >= 0.99 for r in rows if r["window_start"] >= 1000]
    assert late and sum(late) / len(late) < 0.2  # the new operating point is normal once refitted

    live.to_csv(tmp_path / "live.csv", index=False)  # the file grows; the next cron run goes on
    count = len(history)
    result = cli("score", tmp_path / "live.csv", "--model", bundle, "--state", state, "--refit-every", 15,
                 "--out", tmp_path / "rows.jsonl")
    assert result.exit_code == 0, result.output
    assert len(json.loads((bundle / "refits.json").read_text())) > count

    watched = list(jepawatch.load(bundle).watch(tmp_path / "live.csv", follow=False, refit_every=20,
                                                state=tmp_path / "watch.json"))
    assert len(watched) == 2400 // WINDOW - 1
    assert json.loads((tmp_path / "watch.json").read_text())["totals"]["windows_since_refit"] < 20


def test_refit_every_is_refused_in_one_line_where_it_cannot_work(bundle, tmp_path):
    live = normal(600, 6).assign(series_id=lambda f: np.where(np.arange(600) < 300, "a", "b"))
    live.to_csv(tmp_path / "fleet.csv", index=False)
    result = cli("score", tmp_path / "fleet.csv", "--model", bundle, "--refit-every", 10)
    assert result.exit_code == 1 and "long-format table shares one bundle" in " ".join(result.output.split())
    result = cli("score", tmp_path / "fleet.csv", "--model", bundle, "--refit-every", 0)
    assert result.exit_code == 1 and "--refit-every 0" in result.output
    result = cli("score", tmp_path / "fleet.csv", "--model", bundle, "--refit-rows", 100)
    assert result.exit_code == 1 and "goes with --refit-every" in " ".join(result.output.split())


def test_the_report_shows_the_notice_before_a_refit_and_the_refits_after(bundle, tmp_path):
    pytest.importorskip("matplotlib")
    live = normal(1600, 8)
    live.loc[200:, "ch0"] += 3.0
    live.to_csv(tmp_path / "live.csv", index=False)
    page = tmp_path / "before.html"
    assert cli("report", tmp_path / "live.csv", "--model", bundle, "--out", page).exit_code == 0
    text = page.read_text()
    assert 'id="data-moved"' in text and "data has left the training range since" in text
    assert 'id="refit-table"' not in text
    live.iloc[:1000].to_csv(tmp_path / "stretch.csv", index=False)
    assert cli("refit", tmp_path / "stretch.csv", "--model", bundle).exit_code == 0
    page = tmp_path / "after.html"
    assert cli("report", tmp_path / "live.csv", "--model", bundle, "--out", page).exit_code == 0
    text = page.read_text()
    assert 'id="refit-table"' in text and "stretch.csv" in text and "<td>yes</td>" in text
