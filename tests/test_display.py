"""What people read: the live table at 80 and 120 columns, `score`'s table, the risk's digits and
name, and the training bar."""

from __future__ import annotations

import io
import re

import numpy as np
from rich.console import Console
from typer.testing import CliRunner

from jepawatch.adapters import Series
from jepawatch.cli.app import app
from jepawatch.cli.progress import RichReporter
from jepawatch.live.display import WatchStats, render, score_table
from jepawatch.live.layout import abbreviate, fit_names
from jepawatch.scoring.risk_text import shown_risk

NAMES = ["cpu_utilisation_percent", "memory_used_bytes", "disk_io_read_mbps", "net_out_mbps"]
WINDOW = 40


def window_row(i: int, risk: float, alert: bool) -> dict:
    return {"window_start": WINDOW * i, "window_end": WINDOW * i + WINDOW - 1, "start_time": None,
            "end_time": f"2026-11-23T10:{i % 60:02d}:00", "next_window_risk": risk, "alert": alert,
            "risk_source": "label-free", "one_in": 1.0 / max(1e-9, 1.0 - risk), "regime": "12 12 12 40", "coarse_regime": 3, "next_regime": "40 40 40 40",
            "drivers": ", ".join(NAMES[i % 2:] + NAMES[: i % 2])}


def shown(renderable, width: int, height: int = 25) -> list[str]:
    console = Console(width=width, height=height, record=True, color_system=None, force_terminal=False)
    console.print(renderable)
    return console.export_text().splitlines()


def drivers_cell(line: str) -> list[str]:
    """The names in a table line's drivers cell (after the regime column's `| coarse`)."""
    cell = re.split(r"\|\s*\d+\s+", line, maxsplit=1)[1]
    if re.match(r"^[\d×]+(\s[\d×]+)*\s{2,}", cell):  # the next-codes column comes first at 100+ columns
        cell = re.split(r"\s{2,}", cell, maxsplit=1)[1]
    return [part for part in re.split(r",\s*|\s+\+\d+", cell.strip()) if part]


def readable(shown_name: str) -> bool:
    """A whole channel name, or the abbreviation `abbreviate` makes of one (never a cut)."""
    return any(shown_name in (name, abbreviate(name, len(shown_name))) for name in NAMES)


def live_stats(windows: int, labels: bool = True) -> WatchStats:
    stats = WatchStats("web[1]", "/var/log/[bold]metrics.csv", "replay, 300 rows/s", 0.99, "label-free")
    label = np.zeros(WINDOW * (windows + 1), dtype=np.uint8)
    label[WINDOW * 5: WINDOW * 5 + 3] = 1  # window 5 holds a labelled row
    stats.add_rows(Series(np.zeros((len(label), 1), np.float32), ["a"], labels=label if labels else None))
    risks = np.linspace(0.2, 0.995, windows)
    stats.add_windows([window_row(i, float(r), bool(r >= 0.99)) for i, r in enumerate(risks)])
    return stats


def test_live_table_fits_80_and_120_columns_with_whole_driver_names():
    stats = live_stats(60)
    narrow, wide = shown(render(stats), 80, 24), shown(render(stats), 120, 40)
    for lines, width, height in ((narrow, 80, 24), (wide, 120, 40)):
        assert max(len(line) for line in lines) <= width
        assert len(lines) <= height
        table = [line for line in lines if re.match(r"^\d\d-\d\d \d\d:\d\d:\d\d", line)]
        assert table, lines
        for line in table:
            names = drivers_cell(line)
            assert names and all(readable(name) for name in names), line  # never cut mid-name
    rows_80 = [line for line in narrow if re.match(r"^\d\d-\d\d", line)]
    rows_120 = [line for line in wide if re.match(r"^\d\d-\d\d", line)]
    assert len(rows_120) > len(rows_80) + 10  # a taller terminal shows more windows
    assert len(drivers_cell(rows_120[-1])) > len(drivers_cell(rows_80[-1]))  # a wider one more drivers
    assert "40×4" in rows_120[-1] and "40×4" not in rows_80[-1]  # next codes make room below 100 columns
    text = "\n".join(narrow)
    for fragment in ("web[1]", "/var/log/[bold]metrics.csv [replay, 300 rows/s]", "percentile of normal",
                     "risk pctl", "label", "last alert 11-23 10:59:00 (this window)"):
        assert fragment in text, (fragment, text)
    assert any(ch in text for ch in "▁▂▃▄▅▆▇█")  # the trend sparkline


def test_the_label_column_marks_windows_with_labelled_rows_and_only_when_there_are_labels():
    lines = shown(render(live_stats(8)), 80, 30)
    labelled = next(line for line in lines if "10:05:00" in line)
    normal = next(line for line in lines if "10:04:00" in line)
    assert "anom" in labelled and "anom" not in normal
    plain = shown(render(live_stats(8, labels=False)), 80, 30)
    assert not any(re.search(r"\blabel\b(?!-)|anom", line) for line in plain), plain


def test_alert_marks_agree_with_the_printed_risk():
    rng = np.random.default_rng(0)
    for level in (0.99, 0.995, 0.9, 0.5, 0.3):
        risks = np.concatenate([rng.uniform(0, 1, 2000), level + rng.uniform(-2e-6, 2e-6, 2000)])
        for risk in risks:
            alert = bool(risk >= level)  # decided on the unrounded value
            text = shown_risk(round(float(risk), 6), alert, level)  # printed from the row's rounded value
            assert (float(text) >= level) == alert, (risk, level, text)
    assert shown_risk(0.98996, False, 0.99) == "0.98" and shown_risk(0.995, True, 0.99) == "0.99"
    rows = [window_row(0, 0.99, False), window_row(1, 0.99, True)]  # 0.9899996 stored as 0.99, and 0.99
    lines = shown(score_table(rows, 0.99, "label-free", 80), 80)
    assert "0.98" in lines[2] and "!" not in lines[2]
    assert "0.99" in lines[3] and "!" in lines[3]


def test_score_table_is_one_line_per_window_at_80_columns():
    rows = [window_row(i, 0.1 * (i % 10), i % 10 == 9) for i in range(30)]
    lines = shown(score_table(rows, 0.99, "label-free", 80), 80)
    assert max(len(line) for line in lines) <= 80
    assert len([line for line in lines if re.match(r"^\d\d-\d\d \d\d:\d\d:\d\d", line)]) == 30
    assert len(lines) == 30 + 5  # heading, rule, rows, three legend lines
    assert "percentile of normal" in lines[-3] and "1 in N normal windows" in lines[-2] and "--out" in lines[-1]
    assert "1.0e9 " not in lines[2] and " 1  " in lines[2] and " 5  " in lines[2 + 8]  # 1 in N: 1 / (1 - risk)
    for line in lines[2:-3]:
        assert all(name in NAMES for name in drivers_cell(line)), line


def test_driver_names_are_dropped_or_abbreviated_never_cut():
    assert fit_names(NAMES, 200) == ", ".join(NAMES)
    assert fit_names(NAMES, 45) == "cpu_utilisation_percent, memory_used_bytes +2"
    assert fit_names(NAMES, 28) == "cpu_utilisation_percent +3"
    assert abbreviate("cpu_utilisation_percent", 13) == "cpu_util_perc"
    assert fit_names(NAMES, 16) == "cpu_util_perc +3"
    assert len(abbreviate("x" * 30, 8)) == 8


def test_training_bar_fits_80_columns_and_keeps_steps_and_time_left():
    screen = io.StringIO()
    console = Console(file=screen, width=80, force_terminal=True, color_system=None)
    reporter = RichReporter(console)
    reporter.start(100, 12345, 1)
    reporter.epoch_end({"val_loss": -12.3456, "codes_used": 128.0, "code_perplexity": 31.1})
    reporter.progress.update(reporter.task, epoch=100)
    for step in range(3):
        reporter.step(100, step, {"total": -12.3456, "kl_fine": 0.5, "rec": 0.9})
    reporter.stop()
    last = re.split(r"\x1b\[2K|\r|\n", screen.getvalue())  # one part per redraw
    line = [part for part in last if "epoch 100/100" in part][-1]
    line = re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", line)
    assert len(line) <= 80, line
    for fragment in ("3/1234500", "loss -12.3", "val -12.3", "codes 128"):
        assert fragment in line, line
    assert re.search(r"\d:\d\d:\d\d|-:--:--", line), line


def test_train_help_names_the_bar_terms():
    text = " ".join(CliRunner().invoke(app, ["train", "--help"], terminal_width=200).output.split())
    for fragment in ("loss (the total training loss; negative is normal", "val (the validation loss",
                     "codes (dominant codes in use", "kept epoch"):
        assert fragment in text, text


def test_plain_lines_print_the_risk_so_that_it_agrees_with_the_alert_mark():
    from jepawatch.live.display import plain_line

    row = {"end_time": "2026-01-01T00:00:00", "window_end": 9, "next_window_risk": 0.99, "alert": False,
           "regime": "1 2", "coarse_regime": 0, "next_regime": "1 2", "drivers": "cpu, mem"}  # 0.9899996 rounded up
    assert "risk=0.98 " in plain_line(row, alert_at=0.99) and "ALERT" not in plain_line(row, alert_at=0.99)
    alerting = {**row, "next_window_risk": 0.995, "alert": True}
    assert "risk=0.99 ALERT" in plain_line(alerting, alert_at=0.99)


def test_a_fleet_table_at_80_columns_keeps_the_alert_mark_with_long_series_names():
    """With labels and series names of 16 characters the '1 in' column gives way, not the alert mark."""
    stats = WatchStats("web[1]", "/var/log/metrics.csv", "replay, 300 rows/s", 0.99, "label-free")
    label = np.zeros(WINDOW * 5, dtype=np.uint8)
    stats.add_rows(Series(np.zeros((len(label), 1), np.float32), ["a"], labels=label))
    stats.add_windows([{**window_row(i, 0.995, True), "series": "s" * 15 + str(i)} for i in range(4)])
    lines = shown(render(stats), 80, 24)
    rows = [line for line in lines if line.startswith("s" * 15)]
    assert rows and all("!" in line for line in rows) and max(len(line) for line in lines) <= 80, lines
