"""Long-format input: many series in one table, each scored on its own with one bundle (`score --series-col`)."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import jepawatch
from jepawatch.cli.app import app

from conftest import TINY_MTS, make_frame, tiny_monitor

TINY = dict(item.split("=", 1) for item in TINY_MTS)
WINDOW = 20
runner = CliRunner()
LENGTHS = {"web-1": 200, "web-2": 130, "db": 95}  # rows per host; window 20


@pytest.fixture(scope="module")
def monitor(tmp_path_factory):
    return tiny_monitor(tmp_path_factory.mktemp("fleet"), epochs=1)


def host_frames() -> dict[str, pd.DataFrame]:
    """One frame per host, in time order, each with its own data and its own hour of times."""
    frames = {}
    for i, (host, n) in enumerate(LENGTHS.items()):
        frame = make_frame(rows=n, seed=i + 1)
        frame["timestamp"] = pd.date_range(f"2026-01-01 0{i}:00", periods=n, freq="s").astype(str)
        frames[host] = frame
    return frames


def long_table(frames: dict[str, pd.DataFrame], column: str = "host", shuffle: bool = True) -> pd.DataFrame:
    table = pd.concat([f.assign(**{column: host}) for host, f in frames.items()], ignore_index=True)
    if shuffle:  # rows of the hosts interleaved and out of time order
        table = table.sample(frac=1.0, random_state=0).reset_index(drop=True)
    return table


def scored_alone(monitor, frame: pd.DataFrame) -> pd.DataFrame:
    return monitor.score(frame, series_col="none").drop(columns="series")


def test_each_series_scores_as_if_alone_from_an_unsorted_table(monitor):
    frames = host_frames()
    scores = monitor.score(long_table(frames), series_col="host")
    assert list(scores["series"].unique()) == list(dict.fromkeys(long_table(frames)["host"]))  # first appearance
    for host, frame in frames.items():
        mine = scores[scores["series"] == host].drop(columns="series").reset_index(drop=True)
        alone = scored_alone(monitor, frame)
        assert len(mine) == len(alone) == LENGTHS[host] // WINDOW - 1
        pd.testing.assert_frame_equal(mine, alone)
        # windows never cross series: each spans window rows of its own series' times (its own hour)
        assert mine["window_end"].max() < LENGTHS[host]
        times = pd.to_datetime(frame["timestamp"])
        assert mine["start_time"].between(times.min(), times.max()).all()
        assert ((mine["end_time"] - mine["start_time"]) == pd.Timedelta(seconds=WINDOW - 1)).all()


def test_a_series_id_column_is_found_by_name_and_never_a_channel(monitor):
    frames = {"a": make_frame(rows=100, seed=1), "b": make_frame(rows=100, seed=2)}
    table = long_table(frames, column="series_id", shuffle=False)
    scores = monitor.score(table)
    assert sorted(scores["series"].unique()) == ["a", "b"]
    pd.testing.assert_frame_equal(scores[scores["series"] == "b"].drop(columns="series").reset_index(drop=True),
                                  scored_alone(monitor, frames["b"]))


def test_numeric_series_ids_read_as_ids(monitor):
    frames = {1: make_frame(rows=100, seed=1), 2: make_frame(rows=100, seed=2)}
    scores = monitor.score(long_table(frames, column="unit"), series_col="unit")
    assert sorted(scores["series"].unique()) == ["1", "2"]


def test_a_series_shorter_than_two_windows_gives_no_rows_and_one_warning(monitor):
    frames = {"long": make_frame(rows=100, seed=1), "short": make_frame(rows=2 * WINDOW - 1, seed=2),
              "tiny": make_frame(rows=5, seed=3)}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scores = monitor.score(long_table(frames), series_col="host")
    assert set(scores["series"]) == {"long"}
    messages = [str(w.message) for w in caught if "shorter than two windows" in str(w.message)]
    assert len(messages) == 1 and messages[0].startswith("2 series") and "'short'" in messages[0]


def test_one_series_keeps_its_frame_without_a_series(monitor):
    scores = monitor.score(make_frame(rows=100))
    assert scores["series"].isna().all() and len(scores) == 100 // WINDOW - 1


def test_cron_runs_keep_a_cursor_per_series(monitor, tmp_path):
    frames = host_frames()
    whole = long_table(frames, shuffle=False)
    first = pd.concat([f.iloc[: len(f) // 2].assign(host=h) for h, f in frames.items()], ignore_index=True)
    data, out, state = tmp_path / "fleet.csv", tmp_path / "scores.jsonl", tmp_path / "fleet.state"
    model = ["--model", str(monitor.path), "--series-col", "host", "--out", str(out), "--state", str(state)]
    first.to_csv(data, index=False)
    result = runner.invoke(app, ["score", str(data), *model])
    assert result.exit_code == 0, result.output
    cursors = json.loads(state.read_text())["series"]
    assert set(cursors) == set(LENGTHS)
    whole.to_csv(data, index=False)  # the rest of each host's rows arrive
    result = runner.invoke(app, ["score", str(data), *model])
    assert result.exit_code == 0, result.output
    rows = pd.DataFrame([json.loads(line) for line in out.read_text().splitlines()])
    for host, frame in frames.items():
        mine = rows[rows["series"] == host]
        alone = scored_alone(monitor, frame)
        assert list(mine["window_start"]) == list(alone["window_start"])  # each window once, none lost
        np.testing.assert_allclose(mine["next_window_risk"], alone["next_window_risk"], atol=1e-6)
    assert {h: c["rows_seen"] for h, c in json.loads(state.read_text())["series"].items()} == LENGTHS


def test_a_state_of_one_series_is_refused_for_a_table(monitor, tmp_path):
    data, state = tmp_path / "fleet.csv", tmp_path / "s.state"
    make_frame(rows=100).to_csv(data, index=False)
    assert runner.invoke(app, ["score", str(data), "-m", str(monitor.path), "--state", str(state)]).exit_code == 0
    long_table(host_frames()).to_csv(data, index=False)
    result = runner.invoke(app, ["score", str(data), "-m", str(monitor.path), "--state", str(state),
                                 "--series-col", "host"])
    assert result.exit_code == 1 and "made scoring one series" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("column, message", [("nope", "no column 'nope' for --series-col"),
                                             ("ch0", "is a channel the model was trained on"),
                                             ("timestamp", "is the time column")])
def test_a_bad_series_column_is_one_line(monitor, tmp_path, column, message):
    data = tmp_path / "fleet.csv"
    long_table(host_frames()).to_csv(data, index=False)
    result = runner.invoke(app, ["score", str(data), "-m", str(monitor.path), "--series-col", column])
    assert result.exit_code == 1 and message in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_an_empty_series_id_is_one_line(monitor):
    table = long_table(host_frames())
    table.loc[3, "host"] = None
    with pytest.raises(jepawatch.errors.DataError, match="series column 'host' has 1 empty cells"):
        monitor.score(table, series_col="host")


def test_alerts_and_metrics_per_series(monitor, tmp_path):
    frames = host_frames()
    prom, state = tmp_path / "risk.prom", tmp_path / "fleet.state"
    settings = jepawatch.AlertSettings(prom_textfile=prom)
    scores = monitor.score(long_table(frames), series_col="host", alerts=settings, state=state)
    text = prom.read_text()
    for host in LENGTHS:
        windows = int((scores["series"] == host).sum())
        assert f'jepawatch_windows_total{{model="{monitor.name}",series="{host}"}} {float(windows)}' in text
    saved = json.loads(state.read_text())["alerts"]["series"]
    assert {h: s["windows_total"] for h, s in saved.items()} == {h: float(LENGTHS[h] // WINDOW - 1) for h in LENGTHS}


def test_the_terminal_table_shows_each_windows_series(monitor):
    from rich.console import Console

    from jepawatch.live.display import score_table

    rows = monitor.score(long_table(host_frames()), series_col="host")
    rows = [dict(r, start_time=str(r["start_time"]), end_time=str(r["end_time"])) for r in rows.to_dict("records")]
    console = Console(width=80, record=True)
    console.print(score_table(rows, monitor.alert_at, monitor.risk_source, 80))
    lines = console.export_text().splitlines()
    assert lines[0].split()[0] == "series" and max(len(line) for line in lines) <= 80
    assert sum(line.split()[0] == "web-2" for line in lines[1:] if line.strip()) == LENGTHS["web-2"] // WINDOW - 1


# -- watch: a long-format file followed or replayed, one cursor per series ---------------------------

def time_ordered_table(frames: dict[str, pd.DataFrame], column: str = "host") -> pd.DataFrame:
    """A live log: every host's rows interleaved in time order (as they would be appended)."""
    table = long_table(frames, column, shuffle=False)
    offsets = {host: i for i, host in enumerate(frames)}
    table["timestamp"] = pd.to_datetime(table["timestamp"]) - pd.to_timedelta(table[column].map(offsets), unit="h")
    table["timestamp"] = table["timestamp"].dt.strftime("%Y-%m-%d %H:%M:%S")
    return table.sort_values(["timestamp", column], kind="stable").reset_index(drop=True)


def by_window(rows) -> pd.DataFrame:
    frame = pd.DataFrame(list(rows))
    return frame.sort_values(["series", "window_start"]).reset_index(drop=True)


@pytest.mark.parametrize("follow", [False, True])
def test_watch_scores_each_series_of_a_long_format_file_as_score_does(monitor, tmp_path, follow):
    table = time_ordered_table(host_frames())
    data = tmp_path / "hosts.csv"
    table.to_csv(data, index=False)
    watched = by_window(monitor.watch(data, follow=follow, stop_after_idle=0.3, series_col="host"))
    scored = monitor.score(data, series_col="host")
    scored = scored.astype({"series": object, "start_time": str, "end_time": str})
    scored["start_time"] = scored["start_time"].str.replace(" ", "T")
    scored["end_time"] = scored["end_time"].str.replace(" ", "T")
    scored["notice"] = scored["notice"].astype(object).where(scored["notice"].notna(), None)  # <NA> as the rows' None
    expected = scored.sort_values(["series", "window_start"]).reset_index(drop=True)
    assert list(watched.columns) == list(expected.columns)
    assert len(watched) == sum(n // WINDOW - 1 for n in LENGTHS.values())
    pd.testing.assert_frame_equal(watched, expected, check_dtype=False)


def test_watch_state_resumes_each_series(monitor, tmp_path):
    table = time_ordered_table(host_frames())
    data, state = tmp_path / "hosts.csv", tmp_path / "watch.state"
    half = len(table) // 2
    table.iloc[:half].to_csv(data, index=False)
    model = ["-m", str(monitor.path), "--series-col", "host", "--replay", "--jsonl", "--state", str(state)]
    first = runner.invoke(app, ["watch", str(data), *model])
    assert first.exit_code == 0, first.output
    table.to_csv(data, index=False)  # the rest of the rows appended (written whole, same first half)
    second = runner.invoke(app, ["watch", str(data), *model])
    assert second.exit_code == 0, second.output
    rows = [json.loads(line) for result in (first, second) for line in result.stdout.splitlines() if line.startswith("{")]
    assert all(list(row)[0] == "series" for row in rows)
    resumed = by_window(rows)
    assert not resumed.duplicated(["series", "window_start"]).any()  # no window scored twice ...
    alone = by_window(monitor.watch(data, follow=False, series_col="host"))
    pd.testing.assert_frame_equal(resumed, alone)  # ... or skipped


def test_watch_refuses_a_state_of_the_other_layout(monitor, tmp_path):
    table = time_ordered_table(host_frames())
    data, state = tmp_path / "hosts.csv", tmp_path / "watch.state"
    table.to_csv(data, index=False)
    base = ["watch", str(data), "-m", str(monitor.path), "--replay", "--jsonl", "--state", str(state)]
    assert runner.invoke(app, [*base, "--series-col", "host"]).exit_code == 0
    result = runner.invoke(app, [*base, "--series-col", "none"])
    assert result.exit_code == 1
    assert "made reading a long-format table but this run reads one series" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_follow_with_a_missing_series_column_is_one_line(monitor, tmp_path):
    data = tmp_path / "hosts.csv"
    make_frame(rows=60).to_csv(data, index=False)
    result = runner.invoke(app, ["watch", str(data), "-m", str(monitor.path), "--follow", "--stop-after-idle", "0.2",
                                 "--series-col", "host"])
    assert result.exit_code == 1
    assert "has no column 'host' naming each row's series" in result.output


def test_the_live_table_shows_one_row_per_series_riskiest_first(monitor):
    from jepawatch.live.display import WatchStats, shown_windows, window_table
    from rich.console import Console

    stats = WatchStats("m", "hosts.csv", "replay", 0.99, "label-free")
    rows = []
    table = time_ordered_table(host_frames())
    for row in monitor.score(table, series_col="host").to_dict("records"):
        row["start_time"], row["end_time"] = str(row["start_time"]), str(row["end_time"])
        rows.append(row)
    stats.add_windows(rows)
    shown = shown_windows(stats, 10)
    assert [r["series"] for r in shown] == sorted(LENGTHS, key=lambda h: (-stats.by_series[h]["next_window_risk"], h))
    assert all(r is stats.by_series[r["series"]] for r in shown)  # each series' latest window
    console = Console(width=100, record=True)
    console.print(window_table(stats, 100, 10))
    text = console.export_text()
    assert text.splitlines()[0].split()[0] == "series"
    assert sum(line.split()[0] in LENGTHS for line in text.splitlines()[1:] if line.strip()) == len(LENGTHS)
