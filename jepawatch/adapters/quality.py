"""How much of a streamed file could not be read: a warning, or an error past a threshold.

A misparse is rarely loud: a file whose rows switch to another delimiter half-way, or quoted
newlines that shift the rows, give rows whose every channel cell is missing or unparseable,
which forward filling would then silently paper over. `score` and `watch --replay` tally each
batch (what `watch --follow` does row by row: skip and count) and say so.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from jepawatch.adapters.contract import Series
from jepawatch.adapters.report import CUT_LAST_ROW, binary_last_warning, label_like_warning
from jepawatch.errors import DataError

WARN_SHARE = 0.01  # a warning when more than 1% of the rows or cells are unreadable
ERROR_SHARE = 0.5  # an error when more than half of the rows are
MIN_ROWS_FOR_ERROR = 100


@dataclass
class ReadTally:
    source: str
    rows: int = 0
    cells: int = 0
    unreadable_rows: int = 0  # every channel cell missing or unparseable
    unparsed_cells: int = 0  # a cell with text that is not a number
    missing_cells: int = 0  # every cell without a value (empty, NA text such as "n/a", unparsed, infinite)
    infinite_cells: int = 0
    backwards: int = 0  # rows whose time is before the previous row's (one series only)
    repeated: int = 0  # rows whose time is the previous row's
    last_time: object = None
    label_like: list = field(default_factory=list)  # columns named like labels, read as channels (not 0/1)
    binary_last: str | None = None  # a header-less file's 0/1 last column, read as a channel
    notes: list = field(default_factory=list)  # what an adapter says of its source (metadata "notes"), once each
    cut_last_row: bool = False  # a batch ended in a line cut short (no label), left out

    def add(self, batch: Series) -> None:
        """Count `batch` (values (n, V), NaN = missing); a DataError once most rows are unreadable."""
        values = batch.values
        self.rows += len(values)
        self.cells += values.size
        if values.size:
            missing = np.isnan(values)
            self.unreadable_rows += int(missing.all(axis=1).sum())
            self.missing_cells += int(missing.sum())
        self.unparsed_cells += int(batch.metadata.get("unparsed_cells", 0))
        self.infinite_cells += int(batch.metadata.get("infinite_cells", 0))
        self.label_like = self.label_like or list(batch.metadata.get("label_like_channels") or [])
        self.binary_last = self.binary_last or batch.metadata.get("binary_last_column")
        self.notes.extend(str(n) for n in batch.metadata.get("notes") or [] if str(n) not in self.notes)
        self.cut_last_row = self.cut_last_row or bool(batch.metadata.get("cut_last_row"))
        times = None if batch.timestamps is None else np.asarray(batch.timestamps)
        if times is not None and times.dtype.kind in "Mmfiu" and batch.series_ids is None and len(times):  # dates or numbers
            if self.last_time is not None:
                times = np.concatenate([np.asarray([self.last_time], dtype=times.dtype), times])
            steps = times[1:] - times[:-1]
            zero = np.zeros((), dtype=steps.dtype)
            self.backwards += int((steps < zero).sum())
            self.repeated += int((steps == zero).sum())
            self.last_time = times[-1]
        if self.rows >= MIN_ROWS_FOR_ERROR and self.unreadable_rows > ERROR_SHARE * self.rows:
            raise DataError(f"{self.source}: {self.unreadable_rows:,} of the first {self.rows:,} rows have no readable "
                            "channel value; check its delimiter, quoting and decimal separator (one delimiter "
                            "throughout, quoted text without line breaks)")

    def warning(self) -> str | None:
        """One line when more than WARN_SHARE of the rows or cells could not be read, or had no value,
        or when any cell was infinite; else None (as training's reading report says them)."""
        rows = self.rows and self.unreadable_rows / self.rows > WARN_SHARE
        cells = self.cells and self.unparsed_cells / self.cells > WARN_SHARE
        lines = [self._misparse(rows, cells) if rows or cells else self._gaps(), self._order(),
                 label_like_warning(self.label_like) if self.label_like else None,
                 binary_last_warning(self.binary_last) if self.binary_last else None,
                 f"{self.source}: {CUT_LAST_ROW}" if self.cut_last_row else None,
                 *(f"{self.source}: {note}." for note in self.notes)]
        return " ".join(line for line in lines if line) or None

    def _order(self) -> str | None:
        """Rows out of time order, or sharing a time: windows would mix moments that are not neighbours."""
        if not (self.backwards or self.repeated > WARN_SHARE * self.rows):
            return None
        what = [f"{self.backwards:,} rows go back in time" if self.backwards else "",
                f"{self.repeated:,} rows repeat the previous row's time" if self.repeated > WARN_SHARE * self.rows else ""]
        return (f"{self.source}: {' and '.join(w for w in what if w)}; a window of rows out of time order mixes "
                "moments that were not neighbours: sort the file by its time column (and drop repeated rows) first")

    def _gaps(self) -> str | None:
        """Cells without a value in rows that otherwise read well: empty, NA text, infinite."""
        missing = self.cells and self.missing_cells / self.cells > WARN_SHARE
        if not (missing or self.infinite_cells):
            return None
        infinite = f" ({self.infinite_cells:,} of them infinite)" if self.infinite_cells else ""
        return (f"{self.source}: {self.missing_cells:,} of {self.cells:,} channel cells had no value{infinite}; "
                "each takes its channel's last value, so a long gap reads as a flat line")

    def _misparse(self, rows: bool, cells: bool) -> str:
        parts = []
        if rows:
            parts.append(f"{self.unreadable_rows:,} of {self.rows:,} rows had no readable channel value")
        if cells:
            parts.append(f"{self.unparsed_cells:,} of {self.cells:,} cells were not numbers")
        return (f"{self.source}: {' and '.join(parts)} (filled forward); check its delimiter, quoting and "
                "decimal separator")
