"""Operator feedback: verdicts kept as JSON lines beside the state, the windows they mark, `jepawatch
feedback` (from/to, an alert of a real `score --state` run), the alert history it looks alerts up
in, and what `evaluate --feedback` and `report --feedback` show."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from jepawatch.alerts.pipeline import AlertSettings, Alerting
from jepawatch.alerts.tracker import HISTORY, AlertPolicy, AlertTracker, fingerprint
from jepawatch.cli.app import app
from jepawatch.errors import ConfigError, DataError
from jepawatch.feedback import Verdict, feedback_path, read_feedback, record_feedback, windows_marked
from jepawatch.scoring.state import ScoreState

from conftest import make_labelled_frame, train_tiny

runner = CliRunner()
WINDOW = 20  # TINY_MTS


def cli(*args):
    return runner.invoke(app, [str(a) for a in args])


def one_line_error(result, *fragments: str) -> str:
    assert result.exit_code == 1, result.output
    text = result.output.strip()
    assert text.startswith("error:") and "Traceback" not in text, text
    flat = " ".join(text.split())
    for fragment in fragments:
        assert fragment in flat, flat
    return flat


def write_state(path, alerts: dict | None = None) -> None:
    """A `score --state` file (its cursor does not matter here) holding `alerts`."""
    ScoreState("models/m", "0" * 64, WINDOW, next_start=0, rows_seen=0, alerts=alerts).save(path)


# --- the file ------------------------------------------------------------------------------------

def test_verdicts_round_trip_and_are_only_ever_appended(tmp_path):
    path = feedback_path(tmp_path / "state.json")
    assert path == tmp_path / "state.json.feedback.jsonl"
    assert read_feedback(None) == [] and read_feedback(path) == []
    first = Verdict("false_alarm", "1200", "1399", note="deploy at 10:00", recorded_at="2026-01-05T11:00:00Z",
                    alert="3f2a9c0e1b7d4a65")
    second = Verdict("incident", "2026-01-05T10:00:00", "2026-01-05T12:30:00+01:00", series="pump-2", note="ticket 7")
    record_feedback(path, first)
    before = path.read_bytes()
    record_feedback(path, second)
    assert path.read_bytes().startswith(before)  # the first line is untouched
    assert read_feedback(path) == [first, second]
    assert [json.loads(line)["verdict"] for line in path.read_text().splitlines()] == ["false_alarm", "incident"]
    # a line cut short by a crash stays a line of its own: the next verdict does not glue onto it
    path.write_bytes(before + b'{"verdict": "inc')
    record_feedback(path, second)
    assert path.read_text().splitlines()[-1] == json.dumps(second.to_dict())


@pytest.mark.parametrize("bad", ["not json", '["a list"]', '{"verdict": "maybe", "start": "1", "end": "2"}',
                                 '{"verdict": "incident", "start": "9", "end": "2"}', '{"verdict": "incident"}'])
def test_a_malformed_line_is_one_line_error_with_its_line_number(tmp_path, bad):
    path = tmp_path / "f.jsonl"
    good = json.dumps(Verdict("incident", "1", "2").to_dict())
    path.write_text(f"{good}\n{bad}\n{good}\n\n")
    with pytest.raises(DataError) as caught:
        read_feedback(path)
    message = str(caught.value)
    assert len(message.splitlines()) == 1 and f"{path}, line 2" in message and "fix or delete that line" in message
    path.write_text(f"{good}\n{good}\n")  # a trailing newline (and an empty last line) is fine
    assert len(read_feedback(path)) == 2


def test_a_verdict_is_checked_when_it_is_made():
    with pytest.raises(ConfigError, match="give one of false_alarm, incident"):
        Verdict("fine", "1", "2")
    with pytest.raises(ConfigError, match="start is after the end"):
        Verdict("incident", "2026-01-05T12:00", "2026-01-05T10:00")
    with pytest.raises(ConfigError, match="not one of each"):
        Verdict("incident", "100", "2026-01-05T10:00")
    with pytest.raises(ConfigError, match="neither a row number nor an ISO date-time"):
        Verdict("incident", "yesterday", "today")
    assert Verdict("incident", 5, 7).start == "5"  # a row given as an int


# --- which windows a verdict marks ---------------------------------------------------------------

def test_windows_marked_by_rows_times_and_series():
    starts = np.arange(0, 200, 20)
    ends = starts + 19
    times = pd.date_range("2026-01-05T10:00", periods=200, freq="min")
    start_times, end_times = times[starts].strftime("%Y-%m-%dT%H:%M:%S"), times[ends].strftime("%Y-%m-%dT%H:%M:%S")
    verdicts = [Verdict("false_alarm", "45", "60"),  # rows 45..60: windows 40-59 and 60-79
                Verdict("incident", "2026-01-05T11:00:00+01:00", "2026-01-05T10:20:00"),  # = 10:00..10:20 UTC
                Verdict("incident", "2026-01-05T12:40", "2026-01-05T13:00", series="pump-2")]  # windows 8 and 9
    assert np.flatnonzero(windows_marked(verdicts, "false_alarm", starts, ends)).tolist() == [2, 3]
    # times: both ends count (10:20 is window 1's first row), an aware time is converted to UTC
    assert np.flatnonzero(windows_marked(verdicts, "incident", starts, ends, start_times, end_times,
                                         series="pump-1")).tolist() == [0, 1]
    assert np.flatnonzero(windows_marked(verdicts, "incident", starts, ends, start_times, end_times,
                                         series="pump-2")).tolist() == [0, 1, 8, 9]
    # datetimes as a DataFrame of `Monitor.score` carries them mark the same windows
    assert np.flatnonzero(windows_marked(verdicts, "incident", starts, ends, times[starts].values,
                                         times[ends].values)).tolist() == [0, 1, 8, 9]
    assert not windows_marked(verdicts, "incident", starts, ends).any()  # windows without times: no time verdict
    assert not windows_marked([], "incident", starts, ends).any()
    with pytest.raises(ConfigError):
        windows_marked(verdicts, "benign", starts, ends)


# --- the alert history a verdict names an alert by -----------------------------------------------

def rows_of(risks, alert_at=0.9, series=None):
    return [{"window_start": 10 * i, "window_end": 10 * i + 9, "start_time": f"2026-01-01T{i // 60:02d}:{i % 60:02d}:00",
             "end_time": f"2026-01-01T{i // 60:02d}:{i % 60:02d}:09", "next_window_risk": r, "alert": r >= alert_at,
             "regime": "0 1", "coarse_regime": 0, "drivers": "cpu", **({"series": series} if series else {})}
            for i, r in enumerate(risks)]


def test_closed_alerts_are_remembered_bounded_and_carried_in_the_state():
    tracker = AlertTracker("s", "m", AlertPolicy(1, 2, max_alerts=0))  # no storm bound: every alert opens
    rows = rows_of([0.1, 0.95, 0.97, 0.1, 0.96, 0.1, 0.1, 0.1] + [0.95, 0.1, 0.1] * (HISTORY + 4) + [0.99, 0.98])
    for row in rows:
        tracker.update(row)
    assert len(tracker.history) == HISTORY  # the oldest closed alerts are forgotten
    restored = AlertTracker.from_dict(json.loads(json.dumps(tracker.to_dict())), AlertPolicy(1, 2, max_alerts=0))
    assert restored.history == tracker.history
    opened = restored.find(fingerprint("s", "m", rows[-2]["window_start"]))
    assert opened is not None and opened["ends_at"] is None  # the open alert is found too, up to its newest window
    assert (opened["first_window_start"], opened["last_window_end"]) == (rows[-2]["window_start"], rows[-1]["window_end"])
    # the first alert: windows 1..4 (one normal window between is not enough to close it), closed by 2 normal ones
    whole = AlertTracker("s", "m", AlertPolicy(1, 2))
    for row in rows[:8]:
        whole.update(row)
    assert whole.history == [{"fingerprint": fingerprint("s", "m", 10), "first_window_start": 10, "last_window_end": 49,
                              "starts_at": "2026-01-01T00:01:09Z", "ends_at": "2026-01-01T00:06:09Z", "peak_risk": 0.97,
                              "start_time": "2026-01-01T00:01:00", "end_time": "2026-01-01T00:04:09"}]


def test_a_state_saved_before_the_history_still_loads_and_closes_its_alert():
    tracker = AlertTracker("s", "m", AlertPolicy(1, 1))
    tracker.update(rows_of([0.95])[0])
    old = tracker.to_dict()
    for key in ("history", "pending_start_time"):
        del old[key]
    for key in ("last_window_end", "start_time", "end_time"):
        del old["open"][key]
    restored = AlertTracker.from_dict(old, AlertPolicy(1, 1))
    assert restored.history == [] and restored.known()[0]["last_window_end"] == 0  # the newest window seen
    rows = rows_of([0.95, 0.1])
    assert [e.status for e in restored.update(rows[1])] == ["resolved"]
    assert restored.history[0]["last_window_end"] == rows[1]["window_end"]  # up to the window that closed it


# --- jepawatch feedback ----------------------------------------------------------------------------

def test_feedback_records_lists_and_refuses_in_one_line(tmp_path):
    state = tmp_path / "state.json"
    write_state(state)
    done = cli("feedback", state, "--false-alarm", "--from", "1200", "--to", "1399", "--note", "deploy [b]x")
    assert done.exit_code == 0, done.output
    assert done.output.strip() == f"recorded false alarm on rows 1200 to 1399 in {feedback_path(state)}"
    assert cli("feedback", state, "--incident", "--from", "2026-01-05T10:00", "--to", "2026-01-05T12:30").exit_code == 0
    listed = json.loads(cli("feedback", state, "--list", "--json").stdout)
    assert [(v["verdict"], v["start"], v["end"], v["note"]) for v in listed] == [
        ("false_alarm", "1200", "1399", "deploy [b]x"), ("incident", "2026-01-05T10:00", "2026-01-05T12:30", "")] and \
        all(v["recorded_at"].endswith("Z") for v in listed)
    table = cli("feedback", state, "--list")
    assert table.exit_code == 0 and "[b]x" in table.output  # a note is text, not markup
    other = tmp_path / "elsewhere" / "verdicts.jsonl"
    assert cli("feedback", "--file", other, "--incident", "--from", "5", "--to", "9").exit_code == 0
    assert [v.start for v in read_feedback(other)] == ["5"] and len(read_feedback(feedback_path(state))) == 2
    one_line_error(cli("feedback", state, "--false-alarm", "--incident", "--from", "1", "--to", "2"), "--false-alarm or --incident")
    one_line_error(cli("feedback", state, "--incident", "--from", "1"), "give both --from and --to")
    one_line_error(cli("feedback", state, "--incident", "--from", "1", "--to", "2", "--alert", "ab"), "not both")
    one_line_error(cli("feedback", state, "--incident", "--from", "9", "--to", "2"), "start is after the end")
    one_line_error(cli("feedback", state, "--incident", "--alert", "ab"), "keeps no alerts", "--from and --to")
    one_line_error(cli("feedback", tmp_path / "nope.json", "--incident", "--from", "1", "--to", "2"), "no state file")
    (tmp_path / "data.csv").write_text("a,b\n1,2\n")
    one_line_error(cli("feedback", tmp_path / "data.csv", "--incident", "--from", "1", "--to", "2"), "not JSON")
    one_line_error(cli("feedback", state, "--list", "--alerts"), "one at a time")
    assert not (tmp_path / "nope.json.feedback.jsonl").exists() and not (tmp_path / "data.csv.feedback.jsonl").exists()
    assert len(read_feedback(feedback_path(state))) == 2  # nothing refused was recorded


def test_an_alert_of_a_long_format_state_is_found_with_its_series(tmp_path):
    alerting = Alerting(AlertSettings(for_windows=1, clear_windows=2), "fleet", "m", fleet=True)
    alerting.observe(rows_of([0.1, 0.95, 0.1, 0.1], series="pump-1") + rows_of([0.1, 0.1, 0.96, 0.97], series="pump-2"))
    state = tmp_path / "state.json"
    write_state(state, alerting.state())
    known = json.loads(cli("feedback", state, "--alerts", "--json").stdout)
    assert [(a["series"], a["status"], a["first_window_start"], a["last_window_end"]) for a in known] == [
        ("pump-1", "resolved", 10, 19), ("pump-2", "open", 20, 39)]
    done = cli("feedback", state, "--incident", "--alert", known[1]["fingerprint"], "--json")
    assert done.exit_code == 0, done.output
    verdict = json.loads(done.stdout)
    assert (verdict["series"], verdict["start"], verdict["end"], verdict["alert"]) == (
        "pump-2", "2026-01-01T00:02:00", "2026-01-01T00:03:09", known[1]["fingerprint"])
    one_line_error(cli("feedback", state, "--incident", "--alert", known[0]["fingerprint"], "--series", "pump-2"),
                   "of series 'pump-1'")


# --- with a real bundle: score --state, the alert's verdict, evaluate and report ----------------------

@pytest.fixture(scope="module")
def watched(tmp_path_factory):
    """A tiny bundle, the labelled data it scores, and a `score --state` run with alerts (the rows in rows.jsonl)."""
    root = tmp_path_factory.mktemp("feedback")
    frame = make_labelled_frame(rows=2000, window=WINDOW, seed=5)
    frame.iloc[:800].drop(columns="label").to_csv(root / "train.csv", index=False)
    live = frame.iloc[800:].reset_index(drop=True)
    live.to_csv(root / "live.csv", index=False)
    # for evaluate: no anomaly in the protocol's train part, so it skips the protocol's heads (seconds) and
    # still measures the label-free risk, whose windows and alerts the feedback section is about
    live.assign(label=np.where(np.arange(len(live)) < 800, 0, live["label"])).to_csv(root / "labelled.csv", index=False)
    bundle = train_tiny(root, epochs=1)
    done = cli("score", root / "live.csv", "--model", bundle, "--state", root / "state.json", "--out", root / "rows.jsonl",
               "--alert-at", "0.5", "--for", "1", "--clear", "2")
    assert done.exit_code == 0, done.output
    rows = [json.loads(line) for line in (root / "rows.jsonl").read_text().splitlines()]
    return root, bundle, rows


def alert_windows(rows: list[dict], first_window_start: int, clear: int = 2) -> list[int]:
    """The indices of the alerting windows of the alert that opened at `first_window_start` (closed by
    `clear` normal windows in a row)."""
    i = next(k for k, r in enumerate(rows) if r["window_start"] == first_window_start)
    alerting, normal = [], 0
    for k in range(i, len(rows)):
        if rows[k]["alert"]:
            alerting, normal = alerting + [k], 0
        else:
            normal += 1
            if normal == clear:
                break
    return alerting


def test_a_verdict_on_an_alert_of_a_score_state_marks_that_alerts_windows(watched):
    root, bundle, rows = watched
    state = root / "state.json"
    known = json.loads(cli("feedback", state, "--alerts", "--json").stdout)
    assert len(known) >= 2, "the tiny bundle should alert at 0.5"
    first, second = known[0], known[1]
    assert first["status"] == "resolved"
    done = cli("feedback", state, "--false-alarm", "--alert", first["fingerprint"], "--note", "backup job")
    assert done.exit_code == 0 and first["fingerprint"] in done.output, done.output
    assert cli("feedback", state, "--incident", "--alert", second["fingerprint"]).exit_code == 0
    verdicts = read_feedback(feedback_path(state))
    assert [v.alert for v in verdicts] == [first["fingerprint"], second["fingerprint"]]
    starts, ends = [r["window_start"] for r in rows], [r["window_end"] for r in rows]
    times = [r["start_time"] for r in rows], [r["end_time"] for r in rows]
    # what the refit reads: the false alarm's windows (to join the reference), the incident's (kept out)
    for kind, alert in (("false_alarm", first), ("incident", second)):
        marked = np.flatnonzero(windows_marked(verdicts, kind, starts, ends, *times))
        wanted = alert_windows(rows, alert["first_window_start"])
        assert marked.tolist() == list(range(wanted[0], wanted[-1] + 1)), (kind, alert)
    one_line_error(cli("feedback", state, "--incident", "--alert", "0123456789abcdef"),
                   "no alert 0123456789abcdef", f"jepawatch feedback {state} --alerts")
    import jepawatch

    monitor = jepawatch.load(bundle)
    made = monitor.feedback(state, "incident", start=0, end=39, note="API")
    assert jepawatch.verdicts(state)[-1] == made and made.start == "0"


def test_evaluate_and_report_show_the_feedback(watched, tmp_path):
    root, bundle, rows = watched
    state = tmp_path / "state.json"
    write_state(state)
    # rows 400..439 are the evaluated windows W_20 and W_21; rows 645..650, given by their times, lie in W_32
    clock = pd.Timestamp("2026-01-01") + pd.Timedelta(minutes=800)  # live.csv's first row
    at = lambda row: (clock + pd.Timedelta(minutes=row)).strftime("%Y-%m-%dT%H:%M:%S")  # noqa: E731
    for args in (["--incident", "--from", 400, "--to", 439], ["--false-alarm", "--from", at(645), "--to", at(650)],
                 ["--false-alarm", "--from", 0, "--to", 10_000]):
        assert cli("feedback", state, *args).exit_code == 0
    result = cli("evaluate", root / "labelled.csv", "--model", bundle, "--seeds", "1", "--json", "--feedback", state)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["protocol_unavailable"]  # as the fixture meant: only the label-free comparison ran
    fb = report["feedback"]
    assert fb["file"] == str(feedback_path(state)) and fb["windows"] == 1200 // WINDOW - 2
    assert fb["incident"] == {"verdicts": 1, "windows": 2, "alerted": fb["incident"]["alerted"]}
    assert fb["false_alarm"]["verdicts"] == 2 and fb["false_alarm"]["windows"] == fb["windows"]  # every window
    assert fb["false_alarm"]["alerted"] == report["early_warning"]["events"]["alerts"]  # the risk's alerts, at its level
    from jepawatch.cli.render import feedback_line

    assert feedback_line(fb).startswith(f"feedback ({feedback_path(state)}, {fb['windows']} evaluated windows): "
                                        "2 false-alarm verdict(s) on 58 window(s)")
    one_line_error(cli("evaluate", root / "labelled.csv", "--model", bundle, "--feedback", tmp_path / "none.json"),
                   "no feedback file")
    pytest.importorskip("matplotlib")
    out = tmp_path / "report.html"
    done = cli("report", root / "live.csv", "--model", bundle, "--out", out, "--alert-at", "0.5", "--feedback", state)
    assert done.exit_code == 0, done.output
    page = out.read_text()
    table = page[page.index('id="feedback-table"'):page.index("</table>", page.index('id="feedback-table"'))]
    cells = [[c for c in row.split("</td>") if "<td" in c] for row in table.split("<tr>")[2:]]
    counts = [[c.rsplit(">", 1)[-1] for c in row[-2:]] for row in cells]
    alerted = sum(r["alert"] for r in rows)
    assert counts == [["2", str(sum(r["alert"] for r in rows if 400 <= r["window_end"] and r["window_start"] <= 439))],
                      ["1", str(sum(r["alert"] for r in rows if r["window_start"] <= 650 and r["window_end"] >= 645))],
                      [str(len(rows)), str(alerted)]]
