"""The `watch` loop: ticks from a source -> scored windows -> a sink, with the state kept.

Ctrl-C and SIGTERM ask the loop to stop at the next consistent point (after a tick is fully
scored, written and its state saved), so stopping never leaves the state behind the output.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Callable, Generator
from typing import Iterable, Protocol

from rich.markup import escape

from jepawatch.alerts.pipeline import describe
from jepawatch.atomic import json_line
from jepawatch.live.display import WatchStats, plain_line, render
from jepawatch.live.sources import Tick
from jepawatch.live.state import WatchState
from jepawatch.scoring.data_moved import DataMoved
from jepawatch.scoring.fleet import FleetCursor
from jepawatch.scoring.refit_schedule import RefittingCursor
from jepawatch.scoring.scorer import ScoringCursor

STATE_EVERY_SECONDS = 1.0


class Sink(Protocol):
    def windows(self, rows: list[dict]) -> None: ...
    def event(self, message: str) -> None: ...
    def close(self, stats: WatchStats, reason: str) -> None: ...


class JsonLinesSink:
    """One JSON object per window on stdout (the fields of `score`); events and the summary on stderr."""

    def __init__(self, out=None, err=None):
        self.out, self.err = out or sys.stdout, err or sys.stderr

    def windows(self, rows: list[dict]) -> None:
        self.out.write("".join(json_line(row) for row in rows))
        self.out.flush()

    def event(self, message: str) -> None:
        self.err.write(f"watch: {message}\n")
        self.err.flush()

    def close(self, stats: WatchStats, reason: str) -> None:
        if reason:
            self.event(f"{reason}: {stats.summary()}")


class PlainLinesSink(JsonLinesSink):
    """One line of text per window, for a stdout that is not a terminal."""

    def __init__(self, out=None, err=None, alert_at: float | None = None):
        super().__init__(out, err)
        self.alert_at = alert_at  # the risk is then printed to agree with the ALERT mark

    def windows(self, rows: list[dict]) -> None:
        self.out.write("".join(plain_line(row, self.alert_at) + "\n" for row in rows))
        self.out.flush()


class LiveTableSink:
    """The rich live display: totals and the latest windows, redrawn a few times a second."""

    def __init__(self, console, stats: WatchStats):
        from rich.live import Live

        self.console = console
        self.stats = stats
        self.live = Live(get_renderable=lambda: render(stats), console=console, refresh_per_second=4,
                         redirect_stdout=False, redirect_stderr=False)
        self.live.start()

    def windows(self, rows: list[dict]) -> None:
        pass  # the stats hold the latest windows; the display redraws itself

    def event(self, message: str) -> None:
        pass  # shown in the header's status line

    def close(self, stats: WatchStats, reason: str) -> None:
        self.live.update(render(stats), refresh=True)
        self.live.stop()
        if reason:
            self.console.print(f"[bold]{escape(reason)}[/]: {escape(stats.summary())}", highlight=False)


@dataclass
class StateKeeper:
    """Saves the watch state: right after windows are written, on events, else at most once a second."""

    path: Path | None  # None: nothing is saved
    template: WatchState | None
    last_saved: float = 0.0
    alerting: object | None = None  # alerts.pipeline.Alerting, whose state is saved too
    moved: DataMoved = field(default_factory=DataMoved)  # since when the data moved (scoring.data_moved)

    def save(self, source, cursor: ScoringCursor | FleetCursor, stats: WatchStats, force: bool) -> None:
        if self.path is None:
            return
        now = time.monotonic()
        if not force and now - self.last_saved < STATE_EVERY_SECONDS:
            return
        position = source.position
        if position is None:
            return
        self.template.position = position
        self.template.context = cursor.context.to_dict()
        self.template.totals = {"windows": stats.windows, "alerts": stats.alerts, "malformed": stats.malformed,
                                "gaps": stats.gaps, "rows_lost": stats.rows_lost, "gaps_uncounted": stats.gaps_uncounted}
        self.template.totals["moved"] = self.moved.to_dict()
        if isinstance(cursor, RefittingCursor):  # `--refit-every`: the count goes on next run
            self.template.totals["windows_since_refit"] = cursor.windows_since
        if self.alerting is not None:
            self.template.alerts = self.alerting.state()
        self.template.save(self.path)
        self.last_saved = now


class StopFlag:
    """Set by SIGINT / SIGTERM (main thread only); checked by the loop at consistent points."""

    def __init__(self):
        self.reason: str | None = None
        self._previous: dict = {}

    def __enter__(self) -> "StopFlag":
        if threading.current_thread() is threading.main_thread():
            for sig, why in ((signal.SIGINT, "interrupted"), (signal.SIGTERM, "terminated")):
                self._previous[sig] = signal.signal(sig, lambda *_, why=why: self.stop(why))
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def stop(self, reason: str) -> None:
        self.reason = self.reason or reason


def watch_windows(source: Iterable[Tick], cursor: ScoringCursor | FleetCursor, stats: WatchStats, keeper: StateKeeper,
                  stop: StopFlag, stop_after_idle: float | None = None, source_name: str = "",
                  start_message: str = "", on_event: Callable[[str], None] = lambda message: None,
                  alerting=None) -> Generator[list[dict], None, str]:
    """Score ticks until the source ends, the stop flag is set, or `stop_after_idle` seconds pass
    without new rows; yields the rows of each tick's new windows and returns why it ended. The state
    is saved after the consumer has taken the rows (so a crash repeats windows rather than loses
    them). `start_message` goes to `on_event` with the first tick (so an input refused at once gets
    its one error line and nothing else). `alerting` (alerts.pipeline.Alerting) sees every new
    window before the state is saved; the events it raises go to `on_event` and the table."""
    last_rows = time.monotonic()
    reason = "finished"
    for tick in source:
        if start_message:
            on_event(start_message)
            start_message = ""
        for message in tick.events:
            stats.events.append(message)
            on_event(message)
        stats.status = f"waiting for {source_name}" if tick.waiting else ""
        if tick.malformed:
            stats.malformed += tick.malformed
            stats.first_problem = stats.first_problem or tick.first_problem
        if tick.gap:  # rows were lost before this batch: no window joins rows across the gap
            cursor.start_after_gap()
            stats.gaps += 1
        rows = []
        if tick.batch is not None:
            stats.add_rows(tick.batch)  # counts the rows, keeps their labels for the table
            last_rows = time.monotonic()
            rows = keeper.moved.annotate(cursor.push(tick.batch))  # "the data moved" once, not an alert a window
            if rows:
                stats.add_windows(rows)
                for line in gap_lines(rows):
                    stats.events.append(line)
                    on_event(line)
                if alerting is not None:
                    lines = [describe(event) for event in alerting.observe(rows)] + alerting.messages()
                    for line in lines:
                        stats.events.append(line)
                        on_event(line)
                yield rows
        if tick.batch is not None or tick.events or tick.gap:
            keeper.save(source, cursor, stats, force=bool(rows or tick.events or tick.gap))
        if stop.reason:
            reason = stop.reason
            break
        if stop_after_idle is not None and time.monotonic() - last_rows >= stop_after_idle:
            reason = f"no new rows for {stop_after_idle:g} s"
            break
    keeper.save(source, cursor, stats, force=True)
    return reason


def gap_lines(rows: list[dict]) -> list[str]:
    """What the first window after a gap says: how many rows were lost before it."""
    lines = []
    for row in rows:
        if "rows_lost_before" in row:
            where = f"{row['series']}: " if "series" in row else ""
            lost = row["rows_lost_before"]
            count = (f"about {lost:,} row(s) lost, by the time stamps" if lost is not None
                     else "rows lost: unknown (no regular time stamps to tell)")
            lines.append(f"{where}first window after the gap starts at row {row['window_start']:,} ({count})")
    return lines


def run_watch(source: Iterable[Tick], cursor: ScoringCursor | FleetCursor, stats: WatchStats, sink: Sink, keeper: StateKeeper,
              stop: StopFlag, stop_after_idle: float | None = None, source_name: str = "",
              start_message: str = "", alerting=None) -> str:
    """`watch_windows` into a sink: windows and events shown as they come, closed with why it ended."""
    windows = watch_windows(source, cursor, stats, keeper, stop, stop_after_idle, source_name, start_message, sink.event,
                            alerting)
    try:
        while True:
            try:
                rows = next(windows)
            except StopIteration as end:
                reason = end.value
                break
            sink.windows(rows)
    except BaseException:
        sink.close(stats, "stopped by an error" if stats.rows_this_run else "")  # state: the last consistent save
        raise
    sink.close(stats, reason)
    return reason
