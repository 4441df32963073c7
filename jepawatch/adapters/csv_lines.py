"""Lines of a CSV as they arrive (`watch --follow`) -> raw channel values, one malformed row at a time
never fatal. The CSV adapter's reader for a file that grows; `live/` tails, rotates and keeps state.

The header names the columns; the model's channels are picked by name (other columns are
ignored, a missing channel is an error). A row with the wrong number of fields, or a channel
cell that is not a number, is skipped and counted. Empty cells, `nan` and infinities are
missing values: they follow the bundle's fill policy (forward fill, training mean first).
The delimiter and the decimal comma are decided by the CSV adapter's own sniffer
(`adapters.csv_dialect.sniff_lines`) on the same first lines, so `score` and `watch --follow`
read a file alike: with `;` or tab as the delimiter, a decimal comma (`1,5`) when a data cell of
the sample has one (decided on the first data rows when the header came alone).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass

import numpy as np
import pandas as pd

from jepawatch.adapters.columns import SERIES_NAMES, TIMESTAMP_NAMES, check_unique_names, parse_timestamps
from jepawatch.adapters.contract import AUTO
from jepawatch.adapters.csv_dialect import (BOOLEANS, NUMBER, SAMPLE_LINES, is_binary_line, parse_number, sniff_lines,
                                            split_line)
from jepawatch.errors import DataError


@dataclass
class ParsedRows:
    values: np.ndarray  # (n, V) float32 in the model's channel order, NaN = missing
    timestamps: np.ndarray | None  # (n,) or None when the file has no time column
    series_ids: np.ndarray | None  # (n,) object str: each row's series (long format), or None
    malformed: int
    first_problem: str | None  # what was wrong with the first malformed row


class RowParser:
    def __init__(self, channels: list[str], timestamp_column: str | None, source: str, series_column: str | None = None):
        self.channels = list(channels)
        self.timestamp_column = timestamp_column
        self.series_column = series_column  # long format: the column naming each row's series; AUTO: one named series_id
        self.source = source
        self.header: str | None = None

    def is_header(self, line: str) -> bool:
        """Whether the first line of a file (or of a truncated file) is its header.

        A line naming every model channel is one. Without a header yet, a line with no number in it
        is one (a data row has numbers; a time cell alone does not make a header). Once a header is
        known -- logrotate's copytruncate empties the file in place and the writer carries on with
        rows, not a new header -- a line is a new header only when it has no number and no empty
        cell (a data row whose channels are all missing has empty cells), so that a file with other
        columns is refused rather than read with the old ones."""
        if is_binary_line(line):
            return False
        try:
            cells = [c.strip().strip('"') for c in split_line(line, _delimiter(line))]
        except csv.Error:
            return False
        if all(c in cells for c in self.channels):
            return True
        has_number = any(NUMBER.match(c) or c.lower() in BOOLEANS for c in cells if c)
        if self.header is None:
            return any(cells) and not has_number
        return not has_number and all(cells)

    def set_header(self, line: str, sample: list[str] | tuple[str, ...] = ()) -> None:
        """Take `line` as the header; `sample`: the data lines after it, as far as they are there."""
        rows = [r for r in sample if r.strip() and not is_binary_line(r)][: SAMPLE_LINES - 1]
        dialect = sniff_lines([line, *rows])
        delimiter = dialect.delimiter
        names = [name.strip().strip('"') for name in split_line(line, delimiter)]
        check_unique_names(names, self.source)
        missing = [c for c in self.channels if c not in names]
        if missing:
            raise DataError(f"{self.source} lacks the model's channel(s) {', '.join(missing[:10])}"
                            f"{' ...' if len(missing) > 10 else ''}; watch a file with the training data's columns")
        if self.timestamp_column is not None:
            if self.timestamp_column not in names:
                raise DataError(f"{self.source} has no column {self.timestamp_column!r} for --timestamp-col")
            stamp = self.timestamp_column
        else:
            stamp = next((n for n in names if n.lower() in TIMESTAMP_NAMES and n not in self.channels), None)
        if self.series_column == AUTO:  # decided once, on the first header
            self.series_column = next((n for n in names if n.lower() in SERIES_NAMES and n not in self.channels), None)
        if self.series_column is not None and self.series_column not in names:
            raise DataError(f"{self.source} has no column {self.series_column!r} naming each row's series; "
                            "give --series-col the column that does, or watch one series (--series-col none)")
        self.header = line
        self.delimiter = delimiter
        self.decimal_comma = dialect.decimal_comma if rows else None  # None: decided on the first data rows
        self.n_fields = len(names)
        self.indices = [names.index(c) for c in self.channels]
        self.stamp_index = names.index(stamp) if stamp is not None else None
        self.series_index = names.index(self.series_column) if self.series_column is not None else None

    def parse(self, lines: list[str]) -> ParsedRows:
        assert self.header is not None, "set_header first"
        if self.decimal_comma is None and any(line.strip() for line in lines):
            self.set_header(self.header, lines)
        values = np.empty((len(lines), len(self.channels)), dtype=np.float32)
        stamps: list[str] = []
        ids: list[str] = []
        n, malformed, first_problem = 0, 0, None
        for line in lines:
            if not line.strip():
                continue
            try:
                cells = split_line(line, self.delimiter)
            except csv.Error:  # binary garbage: a stray carriage return or NUL inside a quoted field
                malformed += 1
                first_problem = first_problem or "a row that is not text"
                continue
            if len(cells) != self.n_fields:
                malformed += 1
                first_problem = first_problem or f"{len(cells)} fields instead of {self.n_fields}"
                continue
            try:
                values[n] = [parse_number(cells[i], self.decimal_comma) for i in self.indices]
            except ValueError:
                malformed += 1
                first_problem = first_problem or "a channel value that is not a number"
                continue
            if self.series_index is not None:
                series = cells[self.series_index].strip().strip('"')
                if not series:
                    malformed += 1
                    first_problem = first_problem or "a row without its series id"
                    continue
                ids.append(series)
            if self.stamp_index is not None:
                stamps.append(cells[self.stamp_index].strip())
            n += 1
        timestamps = parse_timestamps(pd.Series(stamps, dtype=object)) if self.stamp_index is not None and n else None
        series_ids = np.asarray(ids, dtype=object) if self.series_index is not None else None
        return ParsedRows(values[:n], timestamps, series_ids, malformed, first_problem)


def _delimiter(line: str) -> str:
    """The delimiter of one line by the adapter's rules (the header, before any data row is there)."""
    return sniff_lines([line]).delimiter
