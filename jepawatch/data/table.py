"""A minimal CSV / Parquet reader (the adapters issue replaces it with plugins).

Numeric columns are channels; a timestamp column is recognised (by name, or by dtype) and
kept apart; other non-numeric columns are dropped and named in a warning; NaNs are filled
forward, then backward, and counted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from jepawatch.errors import DataError

TIMESTAMP_NAMES = ("timestamp", "time", "date", "datetime", "ts", "timestamp_(min)")


@dataclass
class Table:
    """One multivariate series, as read."""

    values: np.ndarray  # (T, V) float32, NaN-free
    channels: list[str]
    timestamps: np.ndarray | None = None  # (T,) as read, or None
    timestamp_column: str | None = None
    dropped_columns: list[str] = field(default_factory=list)
    nan_filled: int = 0  # cells filled by the fill policy

    @property
    def n_rows(self) -> int:
        return self.values.shape[0]


def read_table(path: str | Path) -> Table:
    """Read a CSV (also .csv.gz) or Parquet file into a `Table`; raise DataError with a fix."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file; check the path")
    if path.is_dir():
        raise DataError(f"{path} is a folder; give a CSV or Parquet file")
    if path.stat().st_size == 0:
        raise DataError(f"{path} is empty; give a file with a header row and data rows")
    frame = _read_frame(path)
    if frame.shape[0] == 0:
        raise DataError(f"{path} has a header but no data rows")
    return table_from_frame(frame, source=str(path))


def _read_frame(path: Path) -> pd.DataFrame:
    name = path.name.lower()
    try:
        if name.endswith((".parquet", ".pq")):
            return pd.read_parquet(path)
        if name.endswith((".csv", ".csv.gz", ".txt", ".tsv")):
            return pd.read_csv(path, sep=None, engine="python")
    except (ValueError, OSError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise DataError(f"{path} could not be read as {'Parquet' if 'parq' in name else 'CSV'}: {_first_line(exc)}") from exc
    raise DataError(f"{path}: unknown file type; give a .csv, .csv.gz or .parquet file")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def table_from_frame(frame: pd.DataFrame, source: str = "data") -> Table:
    frame = frame.rename(columns=lambda c: str(c).strip())
    timestamp_column = _find_timestamp(frame)
    timestamps = frame[timestamp_column].to_numpy() if timestamp_column else None
    numeric, dropped = [], []
    for col in frame.columns:
        if col == timestamp_column:
            continue
        series = frame[col]
        if pd.api.types.is_bool_dtype(series) or pd.api.types.is_numeric_dtype(series):
            numeric.append(col)
        else:
            dropped.append(col)
    if not numeric:
        raise DataError(f"{source} has no numeric column; jepawatch needs at least one numeric channel")
    values = frame[numeric].astype("float64")
    values = values.replace([np.inf, -np.inf], np.nan)
    n_nan = int(values.isna().to_numpy().sum())
    if n_nan:
        values = values.ffill().bfill().fillna(0.0)  # an all-NaN column becomes constant, then masked
    return Table(
        values=values.to_numpy(dtype=np.float32),
        channels=list(numeric),
        timestamps=timestamps,
        timestamp_column=timestamp_column,
        dropped_columns=dropped,
        nan_filled=n_nan,
    )


def _find_timestamp(frame: pd.DataFrame) -> str | None:
    for col in frame.columns:
        if pd.api.types.is_datetime64_any_dtype(frame[col]):
            return col
    for col in frame.columns:
        if col.lower() in TIMESTAMP_NAMES:
            return col
    return None
