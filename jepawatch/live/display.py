"""What `watch` shows: running totals and the live table of the latest windows (rich).

The table adapts to the terminal: as many of the latest windows as the height allows (for a
long-format table, one row per series, its latest window, the riskiest series first); times lose
their year; the risk is a bar (6 cells, 4 when narrow) and its value (truncated so that it agrees
with the alert mark, `scoring.risk_text`); runs of one regime code are written `code×n`; a label
column when the file has labels; and the drivers column takes the width that is left, with whole
channel names only (`layout.fit_names`). Below 100 columns the predicted next codes make room for
the drivers. `score_table` is `score`'s one-line-per-window table.
Every user-supplied string (file, model, channel names) is shown as plain text, never as markup.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np
from rich import box
from rich.console import Group
from rich.table import Table
from rich.text import Text

from jepawatch.live.layout import fit_names, sparkline, split_names
from jepawatch.scoring.risk_text import (alert_text, digits_for, one_in_text, risk_name, shown_risk, truncated,
                                         warn_level)

RECENT_WINDOWS = 200  # kept for the table; a terminal shows as many as its height allows
TREND_WINDOWS = 40  # the header's sparkline
BAR_CELLS = 6
NARROW_BAR_CELLS = 4  # below NEXT_CODES_FROM_WIDTH: two more columns for the drivers
GAP = 2  # right pad + divider of each column but the last
NEXT_CODES_FROM_WIDTH = 100  # narrower terminals give the next codes' column to the drivers
SHORT_NAMES = {"label-free": "risk pctl", "supervised": "risk prob"}
ONE_IN_WIDTH = 4  # "1 in" N: 99, 1.2k, 4.1M, 2e9 (risk_text.one_in_text)


@dataclass
class WatchStats:
    model: str
    source: str
    mode: str  # follow | replay (and its pace)
    alert_at: float
    risk_source: str
    rows_read: int = 0
    windows: int = 0
    alerts: int = 0
    malformed: int = 0
    gaps: int = 0  # follow mode: rotations while nothing watched whose rows are in no file any more
    rows_lost: int = 0  # rows lost in those gaps, estimated from the time stamps (scoring.gaps)
    gaps_uncounted: int = 0  # gaps whose rows lost the times could not tell
    first_problem: str | None = None
    status: str = ""
    notice: str | None = None  # the newest window's "data moved" notice (scoring.data_moved)
    started: float = field(default_factory=time.monotonic)
    rows_this_run: int = 0
    recent: deque = field(default_factory=lambda: deque(maxlen=RECENT_WINDOWS))
    events: deque = field(default_factory=lambda: deque(maxlen=3))
    has_labels: bool = False  # the file has a label column: the table shows it
    window_labels: dict = field(default_factory=dict)  # window_start -> 1 when a labelled row is in the window
    by_series: dict = field(default_factory=dict)  # long format: series id -> its latest window's row
    last_alert: str | None = None  # where the latest alerted window ended
    windows_since_alert: int = 0
    _labels: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.uint8))  # (rows kept,)
    _labels_from: int = 0  # absolute row of _labels[0]

    @property
    def rows_per_second(self) -> float:
        elapsed = time.monotonic() - self.started
        return self.rows_this_run / elapsed if elapsed > 0 else 0.0

    def add_rows(self, batch) -> None:
        """Count a batch of rows read (a `Series`) and keep its labels until their windows are scored."""
        first = self.rows_read
        self.rows_read += batch.n_steps
        self.rows_this_run += batch.n_steps
        if batch.labels is None or batch.series_ids is not None:  # labels are shown for one series only
            return
        if not self.has_labels or first != self._labels_from + len(self._labels):
            self._labels, self._labels_from = np.zeros(0, dtype=np.uint8), first
        self.has_labels = True
        self._labels = np.concatenate([self._labels, np.asarray(batch.labels, dtype=np.uint8)])

    def add_windows(self, rows: list[dict]) -> None:
        self.windows += len(rows)
        if rows:
            self.notice = rows[-1].get("notice")  # "the data moved", shown in place of an alert every window
        self.alerts += sum(bool(r["alert"]) for r in rows)
        self.recent.extend(rows)
        for row in rows:
            if "rows_lost_before" in row:
                self.rows_lost += row["rows_lost_before"] or 0
                self.gaps_uncounted += row["rows_lost_before"] is None
            if "series" in row:
                self.by_series[row["series"]] = row
            self.windows_since_alert += 1
            if row["alert"]:
                self.last_alert, self.windows_since_alert = short_time(row), 0
            if self.has_labels:
                lo, hi = row["window_start"] - self._labels_from, row["window_end"] + 1 - self._labels_from
                if 0 <= lo < hi <= len(self._labels):
                    self.window_labels[row["window_start"]] = int(self._labels[lo:hi].max())
        if rows and self.has_labels:  # later windows start after this one: drop older labels
            keep = max(0, rows[-1]["window_start"] - self._labels_from)
            self._labels, self._labels_from = self._labels[keep:], self._labels_from + keep
            shown = {r["window_start"] for r in self.recent}
            self.window_labels = {k: v for k, v in self.window_labels.items() if k in shown}

    def summary(self) -> str:
        elapsed = time.monotonic() - self.started
        text = (f"{self.rows_read:,} rows read, {self.windows:,} windows scored, {self.alerts:,} alert(s), "
                f"{self.malformed:,} malformed row(s) skipped; {elapsed:.1f} s, {self.rows_per_second:,.0f} rows/s")
        if self.first_problem:
            text += f" (first malformed row: {self.first_problem})"
        if self.gaps:
            text += f"; {self.gaps_text()}"
        return text

    def gaps_text(self) -> str:
        """'1 gap (about 480 rows lost)': rows written while nothing watched that no file holds any more."""
        lost = f"about {self.rows_lost:,} rows lost" if self.rows_lost or not self.gaps_uncounted else ""
        if self.gaps_uncounted:
            lost += (" and " if lost else "") + f"rows lost unknown in {self.gaps_uncounted} (no regular time stamps)"
        return f"{self.gaps:,} gap(s) in the file ({lost})"


def risk_colour(risk: float, alert: bool, alert_at: float, risk_source: str = "label-free") -> str:
    return "red" if alert else "yellow" if risk >= warn_level(alert_at, risk_source) else "green"


def risk_bar(risk: float, alert: bool, alert_at: float, risk_source: str = "label-free", cells: int = BAR_CELLS) -> Text:
    filled = min(cells, int(round(risk * cells)))
    colour = risk_colour(risk, alert, alert_at, risk_source)
    bar = Text("█" * filled, style=colour)
    bar.append("░" * (cells - filled), style="dim")
    bar.append(f" {shown_risk(risk, alert, alert_at)}", style=f"bold {colour}" if alert else "")
    return bar


def compact_codes(codes: str) -> str:
    """'12 12 12 40 7' -> '12×3 40 7'."""
    out: list[str] = []
    items = codes.split()
    i = 0
    while i < len(items):
        j = i
        while j + 1 < len(items) and items[j + 1] == items[i]:
            j += 1
        out.append(items[i] if j == i else f"{items[i]}×{j - i + 1}")
        i = j + 1
    return " ".join(out)


def short_time(row: dict) -> str:
    stamp = row.get("end_time")
    if not stamp:
        return f"row {row['window_end']}"
    if len(stamp) >= 19 and stamp[4] == "-" and stamp[10] == "T":
        return stamp[5:10] + " " + stamp[11:19]  # MM-DD HH:MM:SS
    return stamp


def header(stats: WatchStats, width: int = 80) -> Table:
    grid = Table.grid(padding=(0, 1))
    grid.add_column(style="bold", no_wrap=True, min_width=6)
    grid.add_column(overflow="ellipsis", no_wrap=True)
    grid.add_row("model", Text(f"{stats.model} ({stats.risk_source} risk, alert at ≥ {stats.alert_at:.3g})"))
    meaning = ("percentile of normal (held-out) windows, not a probability" if stats.risk_source == "label-free"
               else "the calibrated head's probability of an anomalous next window")
    grid.add_row("risk", Text(meaning, style="dim"))
    grid.add_row("file", Text(f"{stats.source} [{stats.mode}]"))
    alerts = Text(f"{stats.alerts:,}", style="bold red" if stats.alerts else "")
    line = Text(f"{stats.rows_read:,} rows · {stats.windows:,} windows · ")
    line.append_text(alerts)
    line.append(f" alerts · {stats.malformed:,} malformed · {stats.rows_per_second:,.0f} rows/s")
    if stats.by_series:
        line.append(f" · {len(stats.by_series):,} series")
    if stats.gaps:
        line.append(f" · {stats.gaps_text()}", style="yellow")
    grid.add_row("read", line)
    grid.add_row("trend", trend(stats, max(8, min(TREND_WINDOWS, width - 7 - 44))))
    if stats.notice or stats.status or stats.events:
        grid.add_row("status", Text(stats.notice or stats.status or stats.events[-1], style="yellow"))
    return grid


def trend(stats: WatchStats, windows: int = TREND_WINDOWS) -> Text:
    """The risk of the latest `windows` windows as a sparkline (alerts in red), and when the last alert was."""
    recent = list(stats.recent)[-windows:]
    line = Text()
    for row in recent:
        colour = risk_colour(row["next_window_risk"], row["alert"], stats.alert_at, stats.risk_source)
        line.append(sparkline([row["next_window_risk"]]), style=colour)
    if stats.last_alert is None:
        line.append("  no alert yet" if recent else "waiting for the first window", style="dim")
    else:
        ago = "this window" if stats.windows_since_alert == 0 else f"{stats.windows_since_alert} window(s) ago"
        line.append(f"  last alert {stats.last_alert} ({ago})")
    return line


def window_table(stats: WatchStats, width: int = 80, rows: int | None = None) -> Table:
    """The latest `rows` windows (all that are kept when None) laid out for `width` columns."""
    shown = shown_windows(stats, rows)
    fleet = bool(stats.by_series)
    series_width = _fitted(shown, lambda r: str(r.get("series", "")), 6, 16) if fleet else 0
    show_next = width >= NEXT_CODES_FROM_WIDTH
    regime_width = _fitted(shown, _regime, 15, 24)
    next_width = _fitted(shown, lambda r: compact_codes(r["next_regime"]), 8, 16)
    bar = BAR_CELLS if show_next else NARROW_BAR_CELLS
    risk_width = bar + 1 + 2 + _digits(stats)
    fixed = (14 + GAP) + (risk_width + GAP) + (1 + GAP) + (regime_width + GAP) + 1  # the last pad
    fixed += (5 + GAP) * stats.has_labels + (next_width + GAP) * show_next + (series_width + GAP) * fleet
    show_one_in = width - fixed - (ONE_IN_WIDTH + GAP) >= 8  # else the drivers keep their room (a fleet's long names)
    drivers_width = max(8, width - fixed - (ONE_IN_WIDTH + GAP) * show_one_in)
    table = Table(box=box.SIMPLE_HEAD, padding=(0, 1, 0, 0), show_edge=False, expand=False)  # gaps: pad + divider
    if fleet:
        table.add_column("series", no_wrap=True, overflow="ellipsis", width=series_width)
    table.add_column("window end", no_wrap=True, min_width=14)
    table.add_column(SHORT_NAMES.get(stats.risk_source, "risk"), no_wrap=True, min_width=risk_width)
    table.add_column("", no_wrap=True, width=1)
    if show_one_in:
        table.add_column("1 in", no_wrap=True, justify="right", width=ONE_IN_WIDTH)
    if stats.has_labels:
        table.add_column("label", no_wrap=True, width=5)
    table.add_column("regime | coarse", no_wrap=True, overflow="ellipsis", width=regime_width)
    if show_next:
        table.add_column("next", no_wrap=True, overflow="ellipsis", width=next_width)
    table.add_column("drivers", no_wrap=True, overflow="ellipsis", max_width=drivers_width)
    for row in shown:
        alert = row["alert"]
        cells = [Text(str(row["series"]))] if fleet else []
        cells += [Text(short_time(row)), risk_bar(row["next_window_risk"], alert, stats.alert_at, stats.risk_source, bar),
                 Text("!", style="bold white on red") if alert else Text("")] + ([_one_in(row)] if show_one_in else [])
        if stats.has_labels:
            label = stats.window_labels.get(row["window_start"])
            cells.append(Text("anom", style="bold magenta") if label else Text("·" if label == 0 else "?", style="dim"))
        cells.append(Text(_regime(row)))
        if show_next:
            cells.append(Text(compact_codes(row["next_regime"])))
        cells.append(Text(fit_names(split_names(row["drivers"]), drivers_width)))
        table.add_row(*cells, style="bold" if alert else None)
    return table


def shown_windows(stats: WatchStats, rows: int | None) -> list[dict]:
    """The windows the table shows: the latest `rows` (all kept when None); for a long-format table
    each series' latest window, the riskiest first (ties by series id), as many as `rows`."""
    if stats.by_series:
        latest = sorted(stats.by_series.values(), key=lambda r: (-r["next_window_risk"], str(r["series"])))
        return latest if rows is None else latest[:max(rows, 0)]
    return list(stats.recent) if rows is None else list(stats.recent)[-rows:] if rows > 0 else []


def _fitted(rows: list[dict], text, least: int, most: int) -> int:
    """A column's width: its longest cell, between `least` (its heading) and `most`."""
    return min(most, max([least] + [len(text(row)) for row in rows]))


def _digits(stats: WatchStats) -> int:
    return digits_for(stats.alert_at)


def table_rows_for(height: int | None, stats: WatchStats) -> int:
    """How many windows fit under the header in a terminal of `height` lines."""
    used = 4 + 1 + (1 if (stats.notice or stats.status or stats.events) else 0)  # model, risk, file, read, trend, status
    return max(1, (height or 24) - used - 2 - 1)  # the table's heading and rule; a line to spare


class _Screen:
    """Laid out for the console's size when drawn (the drivers column takes what is left)."""

    def __init__(self, stats: WatchStats):
        self.stats = stats

    def __rich_console__(self, console, options):
        yield header(self.stats, options.max_width)
        yield window_table(self.stats, options.max_width, table_rows_for(options.max_height or console.height, self.stats))


def render(stats: WatchStats) -> _Screen:
    return _Screen(stats)


def score_table(rows: list[dict], alert_at: float, risk_source: str, width: int = 80) -> Group:
    """`score`'s table: one line per window at 80 columns and more (compact end time, risk, alert,
    regime, the drivers that fit), and a legend line; every field is in `--out` and the JSON lines."""
    name = SHORT_NAMES.get(risk_source, "risk")
    risk_width = max(len(name), 2 + digits_for(alert_at))
    regime_width = _fitted(rows, _regime, 15, 24)
    fleet = any("series" in row for row in rows)  # a long-format table: which series each window is of
    series_width = _fitted(rows, lambda r: str(r.get("series", "")), 6, 16) if fleet else 0
    drivers_width = max(8, width - (14 + GAP) - (risk_width + GAP) - (1 + GAP) - (ONE_IN_WIDTH + GAP) - (regime_width + GAP) - 1
                        - (series_width + GAP if fleet else 0))
    table = Table(box=box.SIMPLE_HEAD, padding=(0, 1, 0, 0), show_edge=False, expand=False)
    if fleet:
        table.add_column("series", no_wrap=True, overflow="ellipsis", width=series_width)
    table.add_column("window end", no_wrap=True, min_width=14)
    table.add_column(name, no_wrap=True, justify="right", width=risk_width)
    table.add_column("", no_wrap=True, width=1)
    table.add_column("1 in", no_wrap=True, justify="right", width=ONE_IN_WIDTH)
    table.add_column("regime | coarse", no_wrap=True, overflow="ellipsis", width=regime_width)
    table.add_column("drivers", no_wrap=True, overflow="ellipsis", max_width=drivers_width)
    for row in rows:
        alert = row["alert"]
        colour = risk_colour(row["next_window_risk"], alert, alert_at, risk_source)
        table.add_row(*([Text(str(row.get("series", "")))] if fleet else []),
                      Text(short_time(row)), Text(shown_risk(row["next_window_risk"], alert, alert_at), style=colour),
                      Text("!", style="bold white on red") if alert else Text(""), _one_in(row), Text(_regime(row)),
                      Text(fit_names(split_names(row["drivers"]), drivers_width)), style="bold" if alert else None)
    what = f"{risk_name(risk_source)}{' windows (not a probability)' if risk_source == 'label-free' else ''}"
    legend = Text(f"{name}: {what}\n1 in: as unusual as 1 in N normal windows (still growing where the risk nears 1)"
                  f"\n! alert at ≥ {alert_text(alert_at)} · every field: --out FILE, or pipe for JSON lines",
                  style="dim")
    return Group(table, legend)


def _one_in(row: dict) -> Text:
    """How far out the window is (`one_in`: 1 / (1 - label-free risk)); blank for rows without it."""
    return Text(one_in_text(row["one_in"]) if row.get("one_in") is not None else "")


def _regime(row: dict) -> str:
    return f"{compact_codes(row['regime'])} | {row['coarse_regime']}"


def plain_line(row: dict, alert_at: float | None = None) -> str:
    """One window as a line of text, for a stdout that is not a terminal; with the alert level, the
    risk is printed so that it agrees with the ALERT mark (`shown_risk`)."""
    where = row["end_time"] or f"row {row['window_end']}"
    if "series" in row:
        where = f"{row['series']} {where}"
    risk = (truncated(row["next_window_risk"], 3) if alert_at is None
            else shown_risk(row["next_window_risk"], bool(row["alert"]), alert_at))
    one_in = f" 1in={one_in_text(row['one_in'])}" if row.get("one_in") is not None else ""
    if "rows_lost_before" in row:  # the first window after a gap in the file
        where += f" after_gap(lost={'?' if row['rows_lost_before'] is None else row['rows_lost_before']})"
    return (f"{where} risk={risk}{one_in}{' ALERT' if row['alert'] else ''} "
            f"regime={compact_codes(row['regime']).replace(' ', ',')}|{row['coarse_regime']} "
            f"next={compact_codes(row['next_regime']).replace(' ', ',')} drivers={row['drivers'].replace(' ', '')}")
