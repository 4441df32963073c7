"""SWaT, the Secure Water Treatment testbed (iTrust, SUTD): `SWaT_Dataset_Normal_v1` and `SWaT_Dataset_Attack_v0`.

Either export works: CSV, or the original XLSX (needs openpyxl: `pip install "jepawatch-adapters[xlsx]"`).
The files have a timestamp column whose name has leading spaces (` Timestamp`, values like
` 22/12/2015 4:00:00 PM`, day first), 51 sensor and actuator columns (some names with leading
spaces too; names are stripped), and a `Normal/Attack` label spelled in several ways (`Normal`,
`Attack`, `A ttack`, trailing spaces). The XLSX (and some CSV exports) carry an extra group row
above the header; it is skipped.

A folder holding a Normal and an Attack file is a benchmark: Normal trains, Attack is the test
part with its labels. One SWaT file alone is read as a labelled series.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from jepawatch.adapters import (
    Adapter,
    Dataset,
    ReadOptions,
    Series,
    parse_timestamps,
    read_csv,
    series_from_frame,
)
from jepawatch.adapters.csv_dialect import decode_head, read_head
from jepawatch.errors import DataError

LABEL = "Normal/Attack"
TIME_FORMAT = "%d/%m/%Y %I:%M:%S %p"
TEXT_SUFFIXES = (".csv", ".csv.gz", ".txt")
HEADER_SEARCH_LINES = 5
HEAD_BYTES = 16 * 1024


class SwatAdapter(Adapter):
    name = "swat"
    description = "SWaT water-treatment testbed with its Normal/Attack label."
    formats = ("SWaT_Dataset_Normal / _Attack .csv or .xlsx", "folder holding both")

    def sniff(self, path: Path) -> float:
        if path.is_dir():
            return 1.0 if _benchmark_files(path) is not None else 0.0
        if not path.is_file():
            return 0.0
        if path.name.lower().endswith(".xlsx"):
            return 0.9 if "swat" in path.name.lower() else 0.0
        try:
            return 0.95 if _header_row(path) is not None else 0.0
        except DataError:
            return 0.0

    def read(self, path: Path, options: ReadOptions) -> Dataset:
        if path.is_dir():
            files = _benchmark_files(path)
            if files is None:
                raise DataError(f"{path} does not hold a SWaT Normal file and an Attack file (.csv or .xlsx)")
            normal, attack = files
            train = _read_file(normal, options.columns)
            test = _read_file(attack, tuple(train.channels))
            train = Series(train.values, train.channels, train.timestamps, None, train.metadata)  # training is label-free
            return Dataset(source=str(path), adapter=self.name, train=train, test=test, metadata={"layout": "swat"})
        return Dataset(source=str(path), adapter=self.name, series=_read_file(path, options.columns))


def _benchmark_files(folder: Path) -> tuple[Path, Path] | None:
    candidates = [p for p in sorted(folder.iterdir()) if p.is_file() and p.name.lower().endswith(TEXT_SUFFIXES + (".xlsx",))]
    normal = [p for p in candidates if "normal" in p.name.lower()]
    attack = [p for p in candidates if "attack" in p.name.lower()]
    if not normal or not attack:
        return None
    prefer_csv = lambda paths: sorted(paths, key=lambda p: p.name.lower().endswith(".xlsx"))[0]  # noqa: E731
    return prefer_csv(normal), prefer_csv(attack)


def _header_row(path: Path) -> int | None:
    """Index of the line holding the Normal/Attack header among the first lines, or None."""
    head = read_head(path, HEAD_BYTES)
    text, _ = decode_head(head, str(path), truncated=len(head) == HEAD_BYTES)
    for index, line in enumerate(text.splitlines()[:HEADER_SEARCH_LINES]):
        if LABEL.lower() in line.lower().replace(" ", ""):
            return index
    return None


def _read_file(path: Path, columns: tuple[str, ...] | None) -> Series:
    options = ReadOptions(label_column=LABEL, columns=columns)
    if path.name.lower().endswith(".xlsx"):
        return series_from_frame(_read_xlsx(path), options, str(path), attack_labels, swat_timestamps)
    skip = _header_row(path)
    if skip is None:
        raise DataError(f"{path} has no {LABEL!r} column in its first lines; is it a SWaT export?")
    return read_csv(path, options, attack_labels, swat_timestamps, skip_rows=skip)


def _read_xlsx(path: Path) -> pd.DataFrame:
    try:
        import openpyxl  # noqa: F401
    except ImportError:
        raise DataError(f"reading {path.name} needs openpyxl: pip install \"jepawatch-adapters[xlsx]\", "
                        "or export the sheet to CSV") from None
    try:
        raw = pd.read_excel(path, header=None, engine="openpyxl")
    except (ValueError, OSError, KeyError) as exc:
        raise DataError(f"{path} could not be read as an Excel workbook ({exc})") from exc
    for index in range(min(HEADER_SEARCH_LINES, len(raw))):
        cells = [str(c).replace(" ", "").lower() for c in raw.iloc[index]]
        if LABEL.lower() in cells:
            frame = raw.iloc[index + 1 :].reset_index(drop=True)
            frame.columns = [str(c).strip() for c in raw.iloc[index]]
            return frame.infer_objects()
    raise DataError(f"{path} has no {LABEL!r} column in its first rows; is it a SWaT export?")


def attack_labels(column: pd.Series, name: str, source: str) -> np.ndarray:
    """'Normal' -> 0, 'Attack' / 'A ttack' (any spacing, any case) -> 1."""
    words = column.astype(str).str.replace(r"\s+", "", regex=True).str.lower()
    numbers = words.map({"normal": 0.0, "attack": 1.0}).to_numpy(dtype=np.float64)
    bad = np.isnan(numbers)
    if bad.any():
        raise DataError(f"{source}: {name} has a value that is neither Normal nor Attack "
                        f"({column.to_numpy()[bad][0]!r}, {int(bad.sum())} rows); fix those rows")
    return numbers.astype(np.uint8)


def swat_timestamps(column: pd.Series) -> np.ndarray:
    """SWaT writes day-first times with AM/PM; anything else falls back to the generic rules."""
    if pd.api.types.is_datetime64_any_dtype(column):
        return parse_timestamps(column)
    text = column.astype(str).str.strip()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parsed = pd.to_datetime(text, format=TIME_FORMAT, errors="coerce")
    if parsed.notna().mean() >= 0.9:
        return parsed.to_numpy(dtype="datetime64[ns]")
    return parse_timestamps(column)
