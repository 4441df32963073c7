"""Scoring a long-format table: many series in one table (`score --series-col host`), one bundle.

The table is split by its series column; each series is sorted by time (stably, when the data
has a time column) and scored on its own, with its own window context, so no window ever holds
rows of two series. A row's `window_start`/`window_end` count rows of its series in that order,
and each scored row carries its series id in `series`. With `--state` each series keeps its own
cursor (the next window and the rows seen), so rows must reach a series in time order across runs.

The table is read whole (the rows of each series are needed together to sort them), so memory
follows the table's size, unlike scoring one series, which streams.

A long-format stream (`watch` on a table of many series) is scored as it comes by `FleetCursor`:
one `ScoringCursor` per series, rows routed by their series id in the order they arrive (a live
table's rows arrive in time order; they are not sorted).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from jepawatch.adapters import Series
from jepawatch.data.preprocess import fill_forward
from jepawatch.errors import DataError
from jepawatch.scoring.scorer import Scorer, ScoringCursor, StreamContext, display_times
from jepawatch.scoring.scored_windows import scorable_starts

SHOWN_NAMES = 5  # series named in the warning about short ones


@dataclass
class SeriesCursor:
    """What `--state` keeps of one series between runs."""

    next_start: int  # row (within the series, in time order) of the next window to score
    rows_seen: int

    def to_dict(self) -> dict:
        return {"next_start": self.next_start, "rows_seen": self.rows_seen}

    @classmethod
    def from_dict(cls, d: dict) -> "SeriesCursor":
        return cls(int(d["next_start"]), int(d["rows_seen"]))


def split_series(table: Series) -> list[tuple[str, Series]]:
    """The series of a long-format table, in order of first appearance, each sorted by time (stable:
    rows with equal times keep the table's order) when the table has times."""
    if table.series_ids is None:
        raise ValueError("the table has no series column")
    return [(name, table.take(rows)) for name, rows in _rows_by_series(table.series_ids, table.timestamps)]


def _rows_by_series(series_ids: np.ndarray, timestamps: np.ndarray | None = None) -> list[tuple[str, np.ndarray]]:
    """Each series id (in order of first appearance) with the indices of its rows: in time order
    (stably) when `timestamps` are given, else in the order they came."""
    codes, names = pd.factorize(series_ids)
    order = np.lexsort((_sortable(timestamps), codes)) if timestamps is not None else np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(names) + 1))
    return [(str(name), order[bounds[i]:bounds[i + 1]]) for i, name in enumerate(names)]


def short_series_warning(names: list[str], total: int, rows_needed: int) -> str:
    """The one line that counts (and names the first of) the series too short to give a row."""
    shown = ", ".join(repr(n) for n in names[:SHOWN_NAMES]) + (" ..." if total > min(len(names), SHOWN_NAMES) else "")
    return f"{total} series shorter than two windows ({rows_needed} rows) gave no rows: {shown}"


def score_fleet(scorer: Scorer, batches: Iterable[Series], saved: dict[str, dict] | None,
                warn: Callable[[str], None], source: str) -> tuple[list[dict], dict[str, dict]]:
    """Score every series of the table in `batches`; (rows in series order then time order, the
    cursors to save). `saved`: the cursors of the last run (None: score from the first window).
    Series in `saved` that are absent now keep their cursor. The windows of consecutive series go
    through the network together, up to the scorer's batch size (a host of 2,000 rows has 19
    windows; one forward pass per host would run at a tenth of the batch size)."""
    parts = list(batches)
    table = Series.concat(parts) if parts else None
    cursors = {name: SeriesCursor.from_dict(d) for name, d in (saved or {}).items()}
    rows: list[dict] = []
    short = []
    pending: list[_Prepared] = []
    for name, series in split_series(table) if table is not None else []:
        before = cursors.get(name)
        if before is not None and series.n_steps < before.rows_seen:
            raise DataError(f"{source}: series {name!r} has {series.n_steps} rows but {before.rows_seen} were seen "
                            "before: the table was replaced or truncated; delete the --state file to score it again")
        if series.n_steps < 2 * scorer.window:
            short.append(name)
        prepared = _prepare(scorer, name, series, before.next_start if before is not None else None)
        pending.append(prepared)
        cursors[name] = SeriesCursor(prepared.next_start, series.n_steps)
        if sum(len(p.starts) for p in pending) >= scorer.settings.batch_size:
            rows.extend(_score_together(scorer, pending))
            pending = []
    rows.extend(_score_together(scorer, pending))
    if short:
        warn(short_series_warning(short, len(short), 2 * scorer.window))
    return rows, {name: cursor.to_dict() for name, cursor in cursors.items()}


@dataclass
class _Prepared:
    """One series ready to score: standardised and filled as a stream would be, its windows to score."""

    name: str
    values: np.ndarray  # (T, V)
    stamps: np.ndarray | None  # (T,) display strings
    starts: np.ndarray  # (N,) rows of the windows to score, within the series
    next_start: int  # the row of the window after them


def _prepare(scorer: Scorer, name: str, series: Series, first_start: int | None) -> _Prepared:
    values = scorer.bundle.preprocess.transform_raw(series.values, series.channels)
    values, _ = fill_forward(values)
    stamps = display_times(series.timestamps) if series.timestamps is not None else None
    first = scorer.window if first_start is None else max(int(first_start), scorer.window)
    starts = scorable_starts(series.n_steps, scorer.window, scorer.stride, first)
    return _Prepared(name, values, stamps, starts, int(starts[-1]) + scorer.stride if len(starts) else first)


def _score_together(scorer: Scorer, prepared: list[_Prepared]) -> list[dict]:
    """The rows of several series' windows, scored in shared batches: the series laid end to end,
    each window (and its predecessor) inside its own series, then each row's rows and times put
    back in its series' terms."""
    prepared = [p for p in prepared if len(p.starts)]
    if not prepared:
        return []
    offsets = np.cumsum([0] + [len(p.values) for p in prepared[:-1]])
    values = np.concatenate([p.values for p in prepared])  # (sum T, V)
    stamps = None if prepared[0].stamps is None else np.concatenate([p.stamps for p in prepared])
    starts = np.concatenate([p.starts + offset for p, offset in zip(prepared, offsets)])
    scored = scorer.rows(values, starts, 0, stamps)
    rows, k = [], 0
    for part, offset in zip(prepared, offsets):
        for row in scored[k:k + len(part.starts)]:
            row["window_start"] -= int(offset)
            row["window_end"] -= int(offset)
            rows.append({"series": part.name, **row})
        k += len(part.starts)
    return rows


def _sortable(timestamps: np.ndarray) -> np.ndarray:
    """Times as something lexsort orders: datetimes and numbers as they are, text as read (by rank)."""
    if np.issubdtype(timestamps.dtype, np.datetime64) or np.issubdtype(timestamps.dtype, np.number):
        return timestamps
    return pd.factorize(pd.Series(timestamps, dtype=object).astype(str), sort=True)[0]


@dataclass
class FleetContext:
    """What a `FleetCursor` carries between batches and what `watch --state` saves: each series'
    `StreamContext`, by series id."""

    contexts: dict[str, StreamContext]

    @property
    def rows_read(self) -> int:
        return sum(context.rows_read for context in self.contexts.values())

    def to_dict(self) -> dict:
        return {"series": {name: context.to_dict() for name, context in self.contexts.items()}}

    @classmethod
    def from_dict(cls, d: dict, n_channels: int) -> "FleetContext":
        series = d["series"]
        if not isinstance(series, dict):
            raise ValueError("the series' contexts are not an object")
        return cls({str(name): StreamContext.from_dict(c, n_channels) for name, c in series.items()})


class FleetCursor:
    """Scores a long-format stream pushed batch by batch: one cursor (and context) per series; each
    scored row carries its `series` first. A series met for the first time starts a new context."""

    def __init__(self, scorer: Scorer, context: FleetContext | None = None):
        self.scorer = scorer
        self.context = context or FleetContext({})
        self.cursors = {name: ScoringCursor(scorer, c) for name, c in self.context.contexts.items()}

    def start_after_gap(self) -> None:
        """Rows were lost before the next batch (`ScoringCursor.start_after_gap`): every series starts afresh."""
        for name, cursor in self.cursors.items():
            cursor.start_after_gap()
            self.context.contexts[name] = cursor.context

    def push(self, batch: Series) -> list[dict]:
        """Append a batch (raw values in the bundle's channel order, with series ids); the rows of the
        windows it completes, series by series in order of first appearance in the batch."""
        if batch.n_steps == 0:
            return []
        if batch.series_ids is None:
            raise DataError("rows without a series id reached a long-format watch; the file changed its columns")
        rows: list[dict] = []
        for name, indices in _rows_by_series(batch.series_ids):
            cursor = self.cursors.get(name)
            if cursor is None:
                cursor = self.cursors[name] = self.scorer.cursor()
                self.context.contexts[name] = cursor.context
            rows.extend({"series": name, **row} for row in cursor.push(batch.take(indices)))
        return rows


def resume_cursor(scorer: Scorer, context: dict | None, long_format: bool, state: Path | None,
                  start_over: str) -> "ScoringCursor | FleetCursor":
    """The scoring cursor of a stream: one series' (ScoringCursor) or one per series (FleetCursor),
    resumed from a state's saved context when there is one; a context of the other layout, or a
    damaged one, is refused (`start_over`: what to do then)."""
    n_channels = len(scorer.channels)
    if context is None:
        return FleetCursor(scorer) if long_format else scorer.cursor()
    saved_long = isinstance(context, dict) and "series" in context
    if saved_long != long_format:
        table, one = "a long-format table", "one series"
        made, now = (table, one) if saved_long else (one, table)
        raise DataError(f"state file {state} was made reading {made} but this run reads {now}; "
                        "use a new --state file, or the same --series-col as before")
    try:
        if long_format:
            return FleetCursor(scorer, FleetContext.from_dict(context, n_channels))
        return ScoringCursor(scorer, StreamContext.from_dict(context, n_channels))
    except (KeyError, TypeError, ValueError, AttributeError):
        raise DataError(f"state file {state} is damaged; {start_over}") from None
