"""From a table of named columns to a `Series`: which column is time, which are labels, which are channels.

Shared by every tabular adapter (CSV, Parquet, and the benchmark plugins). Two steps, so that a
streamed file keeps one plan for all its batches:

1. `plan_columns` looks at the column types and a sample of the first batch and decides:
   the timestamp column (`--timestamp-col`; else by name; else the first date/time-typed
   column; else the first text column whose values parse as dates), the label column
   (`--label-col`; by default a 0/1 column named label/labels/is_anomaly/anomaly/attack), and
   the channels: numeric and boolean columns, plus text columns that are mostly numbers
   (the other cells become missing and are counted). Every other column is dropped, with a reason.
   A long-format table (many series in one table) also has a series column (`--series-col`; when
   the caller looks for one, a column named series_id), which is never a channel.
2. `build_series` converts the columns of a batch by that plan: float32 values with NaN for a
   missing, unparseable or infinite cell, uint8 labels, timestamps as datetime64 or numbers.
"""

from __future__ import annotations

import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Protocol

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from jepawatch.adapters.contract import AUTO, ReadOptions, Series
from jepawatch.errors import DataError

TIMESTAMP_NAMES = ("timestamp", "time", "date", "datetime", "ts", "time_stamp", "timestamp_(min)")
LABEL_NAMES = ("label", "labels", "is_anomaly", "anomaly", "attack")
SERIES_NAMES = ("series_id",)
SAMPLE_ROWS = 500
MOSTLY_NUMERIC = 0.5
PARALLEL_CELLS = 4_000_000  # convert columns in threads above this many cells  # a text column is a channel when at least this share of its filled cells are numbers

LabelParser = Callable[[pd.Series, str, str], np.ndarray]  # (column, name, source) -> (T,) uint8
TimestampParser = Callable[[pd.Series], np.ndarray]  # column -> (T,) timestamps


class Columns(Protocol):
    """A batch of named columns, from pyarrow or pandas."""

    names: list[str]

    def kind(self, name: str) -> str: ...  # numeric | bool | datetime | text | empty

    def to_pandas(self, name: str, rows: int | None = None) -> pd.Series: ...

    def fill_float32(self, name: str, out: np.ndarray) -> None: ...  # out (T,): NaN for missing cells; not text

    def __len__(self) -> int: ...


class ArrowColumns:
    def __init__(self, table: pa.Table):
        self.table = table
        self.names = [str(n) for n in table.column_names]

    def __len__(self) -> int:
        return self.table.num_rows

    def kind(self, name: str) -> str:
        kind = self.table.schema.field(name).type
        if pa.types.is_null(kind):
            return "empty"
        if pa.types.is_boolean(kind):
            return "bool"
        if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind):
            return "numeric"
        if pa.types.is_timestamp(kind) or pa.types.is_date(kind):
            return "datetime"
        if pa.types.is_string(kind) or pa.types.is_large_string(kind):
            return "text"
        return "other"

    def to_pandas(self, name: str, rows: int | None = None) -> pd.Series:
        column = self.table.column(name)
        if rows is not None:
            column = column.slice(0, rows)
        return column.to_pandas()

    def fill_float32(self, name: str, out: np.ndarray) -> None:
        start = 0
        for chunk in self.table.column(name).chunks:  # chunk by chunk: no concatenated copy
            if not pa.types.is_floating(chunk.type) or chunk.null_count:
                chunk = pc.cast(chunk, pa.float64(), safe=False)  # ints, bools, decimals; nulls come out as NaN
            with np.errstate(over="ignore", invalid="ignore"):
                out[start : start + len(chunk)] = chunk.to_numpy(zero_copy_only=False)
            start += len(chunk)


class PandasColumns:
    def __init__(self, frame: pd.DataFrame):
        self.frame = frame
        self.names = [str(n) for n in frame.columns]
        self.frame.columns = self.names

    def __len__(self) -> int:
        return len(self.frame)

    def kind(self, name: str) -> str:
        column = self.frame[name]
        if column.isna().all():
            return "empty"
        if pd.api.types.is_bool_dtype(column):
            return "bool"
        if pd.api.types.is_numeric_dtype(column):
            return "numeric"
        if pd.api.types.is_datetime64_any_dtype(column):
            return "datetime"
        return "text"

    def to_pandas(self, name: str, rows: int | None = None) -> pd.Series:
        column = self.frame[name]
        return column if rows is None else column.iloc[:rows]

    def fill_float32(self, name: str, out: np.ndarray) -> None:
        with np.errstate(over="ignore", invalid="ignore"):
            out[:] = self.frame[name].to_numpy(dtype=np.float64, na_value=np.nan)


@dataclass
class ColumnPlan:
    """Which column plays which part; decided once, applied to every batch."""

    channels: list[str]  # in output order
    timestamp: str | None = None
    label: str | None = None
    series: str | None = None  # long format: the column that names each row's series
    text_channels: set[str] = field(default_factory=set)  # parsed cell by cell
    dropped: dict[str, str] = field(default_factory=dict)  # column -> why it is not a channel
    label_like: list[str] = field(default_factory=list)  # named like a label column, but not 0/1: read as channels
    binary_last: str | None = None  # a header-less file's last column holds only 0 and 1, like labels: a channel

    @property
    def needed(self) -> list[str]:
        extra = [c for c in (self.timestamp, self.label, self.series) if c is not None]
        return extra + self.channels


def check_unique_names(names: list[str], source: str) -> None:
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise DataError(f"{source}: column {duplicates[0]!r} appears more than once in the header; rename one of them")


def plan_columns(columns: Columns, options: ReadOptions, source: str) -> ColumnPlan:
    names = columns.names
    check_unique_names(names, source)
    timestamp = _find_timestamp(columns, options, source)
    label = _find_label(columns, options, source, exclude=timestamp)
    wanted = list(options.columns) if options.columns is not None else None
    series = _find_series(names, options, source, taken={timestamp: "the time column", label: "the label column"},
                          channels=wanted or ())
    plan = ColumnPlan(channels=[], timestamp=timestamp, label=label, series=series)
    if label is None and options.label_column == AUTO:
        plan.label_like = [n for n in names if n.lower() in LABEL_NAMES and n not in (timestamp, series)]
    for name in names:
        if name in (timestamp, label, series) or (wanted is not None and name not in wanted):
            continue
        kind = columns.kind(name)
        if kind in ("numeric", "bool"):
            plan.channels.append(name)
        elif kind == "text" and _mostly_numeric(columns.to_pandas(name, SAMPLE_ROWS)):
            plan.channels.append(name)
            plan.text_channels.add(name)
        else:
            plan.dropped[name] = {"empty": "no values", "datetime": "a second time column"}.get(kind, "not numeric")
    if label is None and options.label_column == AUTO and wanted is None and _binary_last(columns, plan):
        plan.binary_last = names[-1]
    if wanted is not None:
        missing = [c for c in wanted if c not in plan.channels]
        if missing:
            why = "; ".join(f"{c!r} is {plan.dropped[c]}" for c in missing if c in plan.dropped)
            absent = [c for c in missing if c not in plan.dropped]
            raise DataError(
                f"{source} lacks channels the model needs: "
                + ", ".join(repr(c) for c in missing[:8]) + (" ..." if len(missing) > 8 else "")
                + (f" ({why})" if why else "")
                + ("; give data with the columns the model was trained on" if absent else "")
            )
        plan.channels = wanted
    if not plan.channels:
        reasons = ", ".join(f"{c!r} ({r})" for c, r in list(plan.dropped.items())[:6])
        raise DataError(f"{source} has no numeric column{': ' + reasons if reasons else ''}; "
                        "jepawatch needs at least one numeric channel")
    return plan


def _binary_last(columns: Columns, plan: ColumnPlan) -> bool:
    """A file without a header (its columns named c0, c1, ...) whose last column, read as a channel,
    holds both 0 and 1 and nothing else in its first rows: how a label column looks without its name."""
    names = columns.names
    if len(names) < 2 or names != [f"c{i}" for i in range(len(names))] or plan.channels[-1:] != names[-1:]:
        return False
    sample = pd.to_numeric(columns.to_pandas(names[-1], SAMPLE_ROWS), errors="coerce").dropna()
    return set(np.unique(sample.to_numpy(dtype=np.float64))) == {0.0, 1.0}


def build_series(columns: Columns, plan: ColumnPlan, source: str, label_parser: LabelParser | None = None,
                 timestamp_parser: TimestampParser | None = None) -> Series:
    """Convert one batch by `plan`. Values come out (T, V) float32 with NaN for missing cells."""
    n_rows = len(columns)
    by_channel = np.empty((len(plan.channels), n_rows), dtype=np.float32)  # (V, T): contiguous writes
    unparsed = 0
    typed = []
    for j, name in enumerate(plan.channels):
        if name in plan.text_channels or columns.kind(name) == "text":
            raw = columns.to_pandas(name)
            numbers = pd.to_numeric(raw, errors="coerce")
            unparsed += int((numbers.isna() & raw.notna()).sum())
            with np.errstate(over="ignore"):
                by_channel[j] = numbers.to_numpy(dtype=np.float64, na_value=np.nan)
        else:
            typed.append(j)

    def convert(j: int) -> int:
        """Fill channel j's row; infinite cells (also float64 -> float32 overflow) become missing."""
        row = by_channel[j]
        columns.fill_float32(plan.channels[j], row)
        if not np.isinf(row).any():
            return 0
        infinite = np.isinf(row)
        row[infinite] = np.nan
        return int(infinite.sum())

    if n_rows * len(typed) >= PARALLEL_CELLS:  # the copies release the GIL: one thread per core
        with ThreadPoolExecutor(max_workers=min(len(typed), os.cpu_count() or 1)) as pool:
            n_infinite = sum(pool.map(convert, typed))
    else:
        n_infinite = sum(convert(j) for j in typed)
    n_infinite += int(np.isinf(by_channel[[j for j in range(len(plan.channels)) if j not in typed]]).sum())
    values = by_channel.T  # (T, V)
    if n_infinite:
        values[np.isinf(values)] = np.nan
    labels, kept = None, n_rows
    if plan.label is not None:
        label_cells = columns.to_pandas(plan.label)
        if n_rows and pd.isna(label_cells.iloc[-1]) and int(label_cells.isna().sum()) == 1:
            kept = n_rows - 1  # a last line cut short (still being written, or truncated): left out, and said
            values = values[:kept]
        labels = (label_parser or parse_labels)(label_cells.iloc[:kept], plan.label, source)
    timestamps = None
    if plan.timestamp is not None:
        timestamps = (timestamp_parser or parse_timestamps)(columns.to_pandas(plan.timestamp).iloc[:kept])
    series_ids = (None if plan.series is None
                  else parse_series_ids(columns.to_pandas(plan.series).iloc[:kept], plan.series, source))
    metadata = {
        "source": source,
        "timestamp_column": plan.timestamp,
        "label_column": plan.label,
        "series_column": plan.series,
        "dropped_columns": dict(plan.dropped),
        "label_like_channels": [c for c in plan.label_like if c in plan.channels],
        "binary_last_column": plan.binary_last,
        "cut_last_row": n_rows - kept,
        "unparsed_cells": unparsed,
        "infinite_cells": n_infinite,
    }
    return Series(values=values, channels=list(plan.channels), timestamps=timestamps, labels=labels, metadata=metadata,
                  series_ids=series_ids)


def series_from_frame(frame: pd.DataFrame, options: ReadOptions, source: str, label_parser: LabelParser | None = None,
                      timestamp_parser: TimestampParser | None = None) -> Series:
    """A pandas DataFrame (e.g. from an Excel sheet) to a `Series` by the same rules as CSV."""
    frame = frame.rename(columns=lambda c: str(c).strip())
    if frame.shape[0] == 0:
        raise DataError(f"{source} has a header but no data rows")
    columns = PandasColumns(frame)
    return build_series(columns, plan_columns(columns, options, source), source, label_parser, timestamp_parser)


def parse_labels(column: pd.Series, name: str, source: str) -> np.ndarray:
    """0/1, true/false (any case) -> (T,) uint8; anything else is refused."""
    if column.isna().any():
        first = int(np.flatnonzero(column.isna().to_numpy())[0])
        raise DataError(f"{source}: label column {name!r} has {int(column.isna().sum())} empty cells, the first in "
                        f"data row {first + 1} of this part; rows with fewer fields than the header (a delimiter that "
                        "changes, a line cut short) leave it empty; every row needs a 0/1 label")
    if pd.api.types.is_bool_dtype(column):
        return column.to_numpy(dtype=np.uint8)
    if pd.api.types.is_numeric_dtype(column):
        numbers = column.to_numpy(dtype=np.float64)
        bad = ~np.isin(numbers, (0.0, 1.0))
    else:
        words = column.astype(str).str.strip().str.lower()
        numbers = words.map({"0": 0.0, "1": 1.0, "0.0": 0.0, "1.0": 1.0, "false": 0.0, "true": 1.0}).to_numpy(dtype=np.float64)
        bad = np.isnan(numbers)
    if bad.any():
        example = column.to_numpy()[bad][0]
        raise DataError(f"{source}: label column {name!r} has a value that is not 0/1 or true/false ({example!r}); "
                        "give a 0/1 column, or --label-col none to read without labels")
    return numbers.astype(np.uint8)


def _named_column(names: list[str], wanted: str, flag: str, source: str) -> str:
    wanted = wanted.strip()
    if wanted not in names:
        raise DataError(f"{source} has no column {wanted!r} for {flag}; its columns are "
                        + ", ".join(repr(n) for n in names[:10]) + (" ..." if len(names) > 10 else ""))
    return wanted


def _find_series(names: list[str], options: ReadOptions, source: str, taken: dict, channels) -> str | None:
    """The series column: the named one, else (AUTO) one named like series_id that is not a model channel."""
    wanted = options.series_column
    if wanted is None or wanted.strip().lower() == "none":
        return None
    if wanted != AUTO:
        name = _named_column(names, wanted, "--series-col", source)
        if name in taken:
            raise DataError(f"{source}: --series-col {name!r} is {taken[name]}; name the column that identifies each series")
        if name in channels:
            raise DataError(f"{source}: --series-col {name!r} is a channel the model was trained on; "
                            "name the column that identifies each series")
        return name
    for name in names:
        if name.lower() in SERIES_NAMES and name not in taken and name not in channels:
            return name
    return None


def parse_series_ids(column: pd.Series, name: str, source: str) -> np.ndarray:
    """A series column -> (T,) object str (whole numbers without a '.0'); an empty cell is refused."""
    if column.isna().any():
        raise DataError(f"{source}: series column {name!r} has {int(column.isna().sum())} empty cells; "
                        "every row needs the id of its series")
    if pd.api.types.is_float_dtype(column) and (column == column.round()).all():
        column = column.astype("int64")
    return column.astype(str).str.strip().to_numpy(dtype=object)


def _find_timestamp(columns: Columns, options: ReadOptions, source: str) -> str | None:
    names = columns.names
    if options.timestamp_column is not None:
        return _named_column(names, options.timestamp_column, "--timestamp-col", source)
    for name in names:
        if name.lower() in TIMESTAMP_NAMES:
            return name
    for name in names:
        if columns.kind(name) == "datetime":
            return name
    for name in names:
        if columns.kind(name) == "text" and _looks_like_dates(columns.to_pandas(name, SAMPLE_ROWS)):
            return name
    return None


def _find_label(columns: Columns, options: ReadOptions, source: str, exclude: str | None) -> str | None:
    names = columns.names
    if options.label_column is None or options.label_column.lower() == "none":
        return None
    if options.label_column != AUTO:
        return _named_column(names, options.label_column, "--label-col", source)
    for name in names:
        if (name != exclude and name.lower() in LABEL_NAMES and columns.kind(name) in ("numeric", "bool", "text")
                and _is_zero_one(columns.to_pandas(name, SAMPLE_ROWS))):
            return name
    return None


def _mostly_numeric(sample: pd.Series) -> bool:
    filled = sample.dropna()
    if filled.empty:
        return False
    return bool(pd.to_numeric(filled, errors="coerce").notna().mean() >= MOSTLY_NUMERIC)


def _looks_like_dates(sample: pd.Series) -> bool:
    filled = sample.dropna().astype(str)
    if filled.empty or pd.to_numeric(filled, errors="coerce").notna().any():
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parsed = pd.to_datetime(filled, errors="coerce", format="mixed")
    return bool(parsed.notna().mean() >= 0.9)


def _is_zero_one(sample: pd.Series) -> bool:
    if len(sample) > 1 and pd.isna(sample.iloc[-1]) and not sample.iloc[:-1].isna().any():
        sample = sample.iloc[:-1]  # a last line cut short (`build_series` leaves it out and says so)
    if sample.isna().any() or sample.empty:
        return False
    if pd.api.types.is_bool_dtype(sample):
        return True
    if pd.api.types.is_numeric_dtype(sample):
        return bool(np.isin(sample.to_numpy(dtype=np.float64), (0.0, 1.0)).all())
    return bool(sample.astype(str).str.strip().str.lower().isin(("0", "1", "true", "false")).all())


def parse_timestamps(column: pd.Series) -> np.ndarray:
    """Date/time columns -> datetime64[ns] (UTC for zoned); numbers stay numbers; text that parses as dates is parsed."""
    if pd.api.types.is_datetime64_any_dtype(column):
        if getattr(column.dt, "tz", None) is not None:
            column = column.dt.tz_convert(None)
        return column.to_numpy(dtype="datetime64[ns]")
    if pd.api.types.is_numeric_dtype(column):
        return column.to_numpy()
    text = column.astype(str).str.strip()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parsed = pd.to_datetime(text, errors="coerce", format="mixed")
    if parsed.notna().mean() >= 0.9:
        return parsed.to_numpy(dtype="datetime64[ns]")
    return text.to_numpy(dtype=object)  # kept as read, for display
