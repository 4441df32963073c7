""""The data moved": one notice instead of an alert every window when most recent windows alert
(a shift, not an incident), an incident on top of it still alerting, in the rows, the alert events,
the webhook's body, the metrics and the state."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from typer.testing import CliRunner

from jepawatch.alerts.alertmanager import webhook_body
from jepawatch.alerts.pipeline import describe
from jepawatch.alerts.tracker import FIRING, MOVED, RESOLVED, AlertTracker
from jepawatch.cli.app import app
from jepawatch.scoring.data_moved import LOOKBACK, DataMoved

from test_refit import normal
from conftest import train_tiny


def row(i: int, alert: bool, score: float) -> dict:
    return {"window_start": 20 * i, "window_end": 20 * i + 19, "end_time": f"2026-01-01T00:{i:02d}:00",
            "alert": alert, "label_free_score": score, "next_window_risk": 0.999 if alert else 0.5,
            "regime": "1 2", "coarse_regime": 3, "drivers": "ch0"}


def test_a_shift_becomes_one_notice_an_incident_on_top_still_alerts_and_the_notice_ends():
    moved = DataMoved()
    rows = [row(i, False, 1.0) for i in range(12)]
    rng = np.random.default_rng(0)
    rows += [row(i, True, 20.0 + rng.normal(0, 2)) for i in range(12, 50)]  # the shift: every window alerts
    rows += [row(50, True, 80.0)]  # an incident on top of it
    rows += [row(i, False, 1.0) for i in range(51, 70)]  # back (or refitted)
    seen = moved.annotate(rows)
    first = next(i for i, r in enumerate(seen) if r["notice"])
    assert first == 12 + LOOKBACK // 2 - 1  # six of the last twelve alert
    assert "since 2026-01-01T00:12:00" in seen[first]["notice"] and "jepawatch refit" in seen[first]["notice"]
    assert all(r["alert"] for r in seen[12:first])  # the alerts before the notice stand
    assert not any(r["alert"] for r in seen[first:50])  # then one notice, no alert a window
    assert seen[50]["alert"] and seen[50]["notice"]  # far out even against the shifted windows
    assert seen[-1]["notice"] is None
    again = DataMoved(json.loads(json.dumps(moved.to_dict())))  # the state round trip
    assert again.to_dict() == moved.to_dict()


def test_the_tracker_resolves_the_open_alert_and_raises_one_notice_event():
    tracker = AlertTracker("web", "m")
    moved = DataMoved()
    rows = moved.annotate([row(i, False, 1.0) for i in range(12)] + [row(i, True, 20.0) for i in range(12, 40)]
                          + [row(i, False, 1.0) for i in range(40, 60)])
    events = [e for r in rows for e in tracker.update(r)]
    kinds = [(e.kind, e.status) for e in events]
    assert kinds == [("risk", FIRING), ("risk", RESOLVED), (MOVED, FIRING), (MOVED, RESOLVED)]
    notice = events[2]
    assert describe(notice).startswith("notice: web: data has left the training range since")
    body = webhook_body(notice)
    assert body["alerts"][0]["labels"]["alertname"] == "JepawatchDataMoved" and body["status"] == FIRING
    assert body["alerts"][0]["labels"]["severity"] == "info" and "jepawatch refit" in body["commonAnnotations"]["summary"]
    assert notice.fingerprint == events[3].fingerprint != events[0].fingerprint
    restored = AlertTracker.from_dict(json.loads(json.dumps(tracker.to_dict())), tracker.policy)
    assert restored.moved is None and restored.history == tracker.history


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    root = tmp_path_factory.mktemp("moved")
    normal(1600, 0).to_csv(root / "train.csv", index=False)
    return train_tiny(root, epochs=2)


def test_score_says_the_data_moved_once_in_rows_events_metrics_and_state(bundle, tmp_path):
    live = normal(1600, 7)
    live.loc[400:, "ch0"] += 3.0  # a new operating point: the old reference alerts on every window after it
    live.to_csv(tmp_path / "live.csv", index=False)
    state, prom = tmp_path / "state.json", tmp_path / "m.prom"
    result = CliRunner().invoke(app, ["score", str(tmp_path / "live.csv"), "--model", str(bundle), "--state", str(state),
                                      "--out", str(tmp_path / "rows.jsonl"), "--prom-textfile", str(prom)])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in (tmp_path / "rows.jsonl").read_text().splitlines()]
    raw = sum(r["next_window_risk"] >= 0.99 for r in rows)
    assert raw > 40  # the risk itself: most windows after the step
    assert sum(r["alert"] for r in rows) <= LOOKBACK  # what an operator gets: the first ones, then the notice
    assert rows[-1]["notice"] and "run `jepawatch refit`" in rows[-1]["notice"]
    assert result.output.count("notice: live:") == 1 and result.output.count("alert firing") <= 2
    assert 'jepawatch_data_moved{model="train",series="live"} 1.0' in prom.read_text()
    saved = json.loads(state.read_text())
    assert saved["moved"][""]["since"] and saved["alerts"]["tracker"]["moved"]["notice"]

    shutil.copy(tmp_path / "live.csv", tmp_path / "live2.csv")
    with open(tmp_path / "live.csv", "a") as f:  # more rows of the moved data: the notice goes on, no new event
        normal(1700, 7).iloc[1600:].assign(ch0=lambda d: d.ch0 + 3.0).to_csv(f, header=False, index=False)
    result = CliRunner().invoke(app, ["score", str(tmp_path / "live.csv"), "--model", str(bundle), "--state", str(state),
                                      "--out", str(tmp_path / "rows.jsonl"), "--prom-textfile", str(prom)])
    assert result.exit_code == 0, result.output
    assert "notice: live:" not in result.output and "alert firing" not in result.output


def test_an_alert_storm_is_bounded_held_back_alerts_counted_and_said():
    from jepawatch.alerts.tracker import HELD, AlertPolicy

    tracker = AlertTracker("web", "m", AlertPolicy(max_alerts=3))
    flapping = [row(i, i % 2 == 0, 5.0) for i in range(40)]  # an alert opens and closes every other window
    events = [e for r in flapping for e in tracker.update(r)]
    opened = [e for e in events if e.status == FIRING]
    held = [e for e in events if e.status == HELD]
    assert len(opened) == 3 and len(held) == 17 and tracker.held_back == 17
    assert describe(held[-1]).startswith("alert held back: web") and "17 held back so far" in held[-1].notice
    restored = AlertTracker.from_dict(json.loads(json.dumps(tracker.to_dict())), tracker.policy)
    assert restored.held_back == 17 and restored.opened_at == tracker.opened_at
    later = [row(i, i >= 140 and i % 2 == 0, 5.0) for i in range(40, 150)]  # a hundred windows on: alerts open again
    assert any(e.status == FIRING for r in later for e in restored.update(r))
    unbounded = AlertTracker("web", "m", AlertPolicy(max_alerts=0))
    assert sum(e.status == FIRING for r in flapping for e in unbounded.update(r)) == 20


@pytest.mark.parametrize("field, value", [("moved", {"": {"recent": "garbage"}}), ("moved", ["x"]),
                                          ("windows_since_refit", "many")])
def test_a_damaged_notice_or_refit_count_in_the_state_is_a_one_line_error(bundle, tmp_path, field, value):
    bundle = shutil.copytree(bundle, tmp_path / "bundle")  # refitted here: the module's bundle stays as trained
    normal(600, 9).to_csv(tmp_path / "live.csv", index=False)
    state = tmp_path / "state.json"
    args = ["score", str(tmp_path / "live.csv"), "--model", str(bundle), "--state", str(state), "--refit-every", "5"]
    assert CliRunner().invoke(app, args).exit_code == 0
    saved = json.loads(state.read_text())
    saved[field] = value
    state.write_text(json.dumps(saved))
    with open(tmp_path / "live.csv", "a") as f:
        normal(700, 9).iloc[600:].to_csv(f, header=False, index=False)
    refits = (bundle / "refits.json").read_text() if (bundle / "refits.json").exists() else None
    result = CliRunner().invoke(app, args)
    text = " ".join(result.output.split())
    assert result.exit_code == 1 and text.startswith("error:") and "delete the state file" in text, result.output
    assert ((bundle / "refits.json").read_text() if (bundle / "refits.json").exists() else None) == refits  # nothing refitted
