"""What `watch` shows: running totals and the live table of the latest windows (rich).

The table is laid out for an 80-column terminal: times lose their year, the risk is a 6-cell
bar and its value, runs of one regime code are written `code×n`, and the drivers column takes
what is left (ellipsis when it does not fit). Wider terminals show more of each.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

from rich import box
from rich.table import Table
from rich.text import Text

RECENT_WINDOWS = 12
BAR_CELLS = 6
FIXED_COLUMNS_WIDTH = 14 + (BAR_CELLS + 5) + 1 + 15 + 8 + 5 * 2 + 1  # every column but drivers, gaps, last pad


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
    first_problem: str | None = None
    status: str = ""
    started: float = field(default_factory=time.monotonic)
    rows_this_run: int = 0
    recent: deque = field(default_factory=lambda: deque(maxlen=RECENT_WINDOWS))
    events: deque = field(default_factory=lambda: deque(maxlen=3))

    @property
    def rows_per_second(self) -> float:
        elapsed = time.monotonic() - self.started
        return self.rows_this_run / elapsed if elapsed > 0 else 0.0

    def add_windows(self, rows: list[dict]) -> None:
        self.windows += len(rows)
        self.alerts += sum(bool(r["alert"]) for r in rows)
        self.recent.extend(rows)

    def summary(self) -> str:
        elapsed = time.monotonic() - self.started
        text = (f"{self.rows_read:,} rows read, {self.windows:,} windows scored, {self.alerts:,} alert(s), "
                f"{self.malformed:,} malformed row(s) skipped; {elapsed:.1f} s, {self.rows_per_second:,.0f} rows/s")
        if self.first_problem:
            text += f" (first malformed row: {self.first_problem})"
        return text


def risk_bar(risk: float, alert_at: float) -> Text:
    filled = min(BAR_CELLS, int(round(risk * BAR_CELLS)))
    colour = "red" if risk >= alert_at else "yellow" if risk >= 0.5 * alert_at else "green"
    bar = Text("█" * filled, style=colour)
    bar.append("░" * (BAR_CELLS - filled), style="dim")
    bar.append(f" {risk:.2f}", style=f"bold {colour}" if risk >= alert_at else "")
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


def header(stats: WatchStats) -> Table:
    grid = Table.grid(padding=(0, 1))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="ellipsis", no_wrap=True)
    grid.add_row("model", f"{stats.model} ({stats.risk_source} risk, alert at {stats.alert_at:.3g})")
    grid.add_row("file", f"{stats.source} [{stats.mode}]")
    alerts = Text(f"{stats.alerts:,}", style="bold red" if stats.alerts else "")
    line = Text(f"{stats.rows_read:,} rows · {stats.windows:,} windows · ")
    line.append_text(alerts)
    line.append(f" alerts · {stats.malformed:,} malformed · {stats.rows_per_second:,.0f} rows/s")
    grid.add_row("read", line)
    if stats.status or stats.events:
        grid.add_row("status", Text(stats.status or stats.events[-1], style="yellow"))
    return grid


def window_table(stats: WatchStats, width: int = 80) -> Table:
    table = Table(box=box.SIMPLE_HEAD, padding=(0, 1, 0, 0), show_edge=False, expand=False)  # gaps: pad + divider
    table.add_column("window end", no_wrap=True, min_width=14)
    table.add_column("next risk", no_wrap=True, min_width=BAR_CELLS + 5)
    table.add_column("", no_wrap=True, width=1)
    table.add_column("regime | coarse", no_wrap=True, overflow="ellipsis", min_width=15, max_width=24)
    table.add_column("next", no_wrap=True, overflow="ellipsis", min_width=8, max_width=16)
    table.add_column("drivers", no_wrap=True, overflow="ellipsis", width=max(8, width - FIXED_COLUMNS_WIDTH))
    for row in stats.recent:
        alert = row["alert"]
        table.add_row(
            short_time(row),
            risk_bar(row["next_window_risk"], stats.alert_at),
            Text("!", style="bold white on red") if alert else "",
            f"{compact_codes(row['regime'])} | {row['coarse_regime']}",
            compact_codes(row["next_regime"]),
            row["drivers"],
            style="bold" if alert else None,
        )
    return table


class _Screen:
    """Laid out for the console's width when drawn (the drivers column takes what is left)."""

    def __init__(self, stats: WatchStats):
        self.stats = stats

    def __rich_console__(self, console, options):
        yield header(self.stats)
        yield window_table(self.stats, options.max_width)


def render(stats: WatchStats) -> _Screen:
    return _Screen(stats)


def plain_line(row: dict) -> str:
    """One window as a line of text, for a stdout that is not a terminal."""
    where = row["end_time"] or f"row {row['window_end']}"
    return (f"{where} risk={row['next_window_risk']:.3f}{' ALERT' if row['alert'] else ''} "
            f"regime={compact_codes(row['regime']).replace(' ', ',')}|{row['coarse_regime']} "
            f"next={compact_codes(row['next_regime']).replace(' ', ',')} drivers={row['drivers'].replace(' ', '')}")
