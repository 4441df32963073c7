"""PSM, eBay's Pooled Server Metrics (Abdulaal et al., KDD 2021).

A folder with `train.csv` and `test.csv` (header `timestamp_(min),feature_0,...,feature_24`,
timestamps written as floats, NaNs in train) and `test_label.csv` (`timestamp_(min),label`).
Labels are joined to the test rows on the timestamp, not on row order; a test row without a
label, a label without a test row, or a repeated timestamp is refused.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from jepawatch.adapters import Adapter, Dataset, ReadOptions, parse_labels, read_csv
from jepawatch.adapters.files import check_file, first_line
from jepawatch.errors import DataError

TIMESTAMP = "timestamp_(min)"
FILES = ("train.csv", "test.csv", "test_label.csv")


class PsmAdapter(Adapter):
    name = "psm"
    description = "eBay PSM server metrics; labels joined on timestamp."
    formats = ("folder: train.csv, test.csv, test_label.csv",)

    def sniff(self, path: Path) -> float:
        if not path.is_dir() or not all((path / f).is_file() for f in FILES):
            return 0.0
        try:
            with open(path / "test_label.csv", encoding="utf-8", errors="replace") as handle:
                header = handle.readline()
        except OSError:
            return 0.0
        return 1.0 if TIMESTAMP in header else 0.5

    def read(self, path: Path, options: ReadOptions) -> Dataset:
        if not path.is_dir():
            raise DataError(f"{path} is not a folder; the PSM adapter reads a folder with {', '.join(FILES)}")
        missing = [f for f in FILES if not (path / f).is_file()]
        if missing:
            raise DataError(f"{path} lacks {', '.join(missing)}; a PSM folder has {', '.join(FILES)}")
        plain = ReadOptions(label_column=None, timestamp_column=TIMESTAMP, columns=options.columns)
        train = read_csv(path / "train.csv", plain)
        test = read_csv(path / "test.csv", ReadOptions(label_column=None, timestamp_column=TIMESTAMP,
                                                        columns=tuple(train.channels)))
        test = replace(test, labels=_joined_labels(path / "test_label.csv", test.timestamps))
        return Dataset(source=str(path), adapter=self.name, train=train, test=test, metadata={"layout": "psm"})


def _joined_labels(label_path: Path, test_stamps: np.ndarray) -> np.ndarray:
    check_file(label_path, "a PSM label file")
    try:
        frame = pd.read_csv(label_path)
    except (ValueError, OSError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise DataError(f"{label_path} could not be read: {first_line(exc)}") from exc
    frame.columns = [str(c).strip() for c in frame.columns]
    if TIMESTAMP not in frame.columns or "label" not in frame.columns:
        raise DataError(f"{label_path} needs the columns {TIMESTAMP},label (it has {','.join(frame.columns)})")
    labels = parse_labels(frame["label"], "label", str(label_path))
    stamps = pd.Index(pd.to_numeric(frame[TIMESTAMP], errors="coerce"))
    if stamps.has_duplicates:
        raise DataError(f"{label_path} lists timestamp {stamps[stamps.duplicated()][0]} more than once")
    if len(stamps) != len(test_stamps):
        raise DataError(f"{label_path} has {len(stamps)} labels but test.csv has {len(test_stamps)} rows; "
                        "they must come from the same PSM release")
    where = stamps.get_indexer(test_stamps)  # (T_test,) row of each test timestamp in the label file
    unmatched = np.flatnonzero(where < 0)
    if len(unmatched):
        raise DataError(f"{label_path} has no label for test timestamp {test_stamps[unmatched[0]]} "
                        f"({len(unmatched)} test rows unlabelled); the label file does not match test.csv")
    return labels[where]

