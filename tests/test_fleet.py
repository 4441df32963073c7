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

from conftest import TINY_MTS, make_frame

TINY = dict(item.split("=", 1) for item in TINY_MTS)
WINDOW = 20
runner = CliRunner()
LENGTHS = {"web-1": 200, "web-2": 130, "db": 95}  # rows per host; window 20


@pytest.fixture(scope="module")
def monitor(tmp_path_factory):
    root = tmp_path_factory.mktemp("fleet")
    data = root / "metrics.csv"
    make_frame(rows=600).to_csv(data, index=False)
    return jepawatch.train(data, epochs=1, preset="paper", settings=TINY, out=root / "models")


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
