"""The CSV adapter: delimited text (`,` `;` tab), optionally gzip-compressed.

A whole file is parsed by pyarrow's multithreaded reader; a file it cannot type (a number column
with a stray word far down, say) is parsed again by pandas as text and coerced cell by cell.
Streaming (`iter_batches`) uses pandas' chunked reader, so memory follows the batch size.
"""

from __future__ import annotations

import csv
import zlib
from pathlib import Path
from typing import Iterator

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pv

from jepawatch.adapters.columns import (
    ArrowColumns,
    Columns,
    LabelParser,
    PandasColumns,
    TimestampParser,
    build_series,
    check_unique_names,
    plan_columns,
)
from jepawatch.adapters.contract import (
    DEFAULT_BATCH_ROWS,
    Adapter,
    Dataset,
    ReadOptions,
    Series,
)
from jepawatch.adapters.csv_dialect import Dialect, decode_head, is_gzip, read_head, sniff_file
from jepawatch.adapters.files import check_file, first_line, sniff_generic
from jepawatch.errors import DataError

SUFFIXES = (".csv", ".csv.gz", ".tsv", ".tsv.gz", ".txt")
_PARSE_ERRORS = (pa.ArrowInvalid, pd.errors.ParserError, pd.errors.EmptyDataError, ValueError, UnicodeDecodeError,
                 csv.Error, OSError, EOFError, zlib.error)


class CsvAdapter(Adapter):
    name = "csv"
    description = "Delimited text (, ; tab), gzip too; finds the time and label columns."
    formats = SUFFIXES

    def sniff(self, path: Path) -> float:
        return sniff_generic(path, SUFFIXES, _looks_delimited)

    def read(self, path: Path, options: ReadOptions) -> Dataset:
        return Dataset(source=str(path), adapter=self.name, series=read_csv(path, options))

    def iter_batches(self, path: Path, options: ReadOptions, batch_rows: int = DEFAULT_BATCH_ROWS) -> Iterator[Series]:
        return iter_csv(path, options, batch_rows)


def _looks_delimited(path: Path) -> float:
    dialect = sniff_file(path)
    return 0.4 if dialect is not None and dialect.n_fields > 1 else 0.0


def read_csv(path: Path, options: ReadOptions, label_parser: LabelParser | None = None,
             timestamp_parser: TimestampParser | None = None, skip_rows: int = 0) -> Series:
    """Read a whole CSV into a `Series`. Plugins reuse it: `skip_rows` skips lines above the header,
    the parsers replace the 0/1 label and the generic timestamp rules."""
    source = str(path)
    dialect = _dialect(path, skip_rows)
    try:
        columns: Columns = ArrowColumns(_read_arrow(path, dialect, skip_rows))
    except (pa.ArrowInvalid, UnicodeDecodeError):  # untypeable or ragged: pandas parses it as text, or says why not
        columns = PandasColumns(_read_pandas(path, dialect, skip_rows))
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{source} could not be read: {first_line(exc)}; check that the file is complete") from exc
    if len(columns) == 0:
        raise DataError(f"{source} has a header but no data rows")
    return build_series(columns, plan_columns(columns, options, source), source, label_parser, timestamp_parser)


def iter_csv(path: Path, options: ReadOptions, batch_rows: int = DEFAULT_BATCH_ROWS,
             label_parser: LabelParser | None = None, timestamp_parser: TimestampParser | None = None,
             skip_rows: int = 0) -> Iterator[Series]:
    """Stream a CSV in batches of `batch_rows`; one column plan (from the first batch) for all."""
    source = str(path)
    dialect = _dialect(path, skip_rows)
    if dialect.has_header:
        check_unique_names(_header_names(path, dialect, skip_rows), source)  # pandas would rename a repeat "x.1"
    plan = None
    try:
        for chunk in _pandas_reader(path, dialect, skip_rows, chunksize=batch_rows):
            columns = PandasColumns(_clean_names(chunk, dialect))
            if plan is None:
                plan = plan_columns(columns, options, source)
            yield build_series(columns, plan, source, label_parser, timestamp_parser)
    except _PARSE_ERRORS as exc:
        raise DataError(f"{source} could not be parsed as CSV: {first_line(exc)}; check its delimiter and row lengths") from exc
    if plan is None:
        raise DataError(f"{source} has a header but no data rows")


def _dialect(path: Path, skip_rows: int) -> Dialect:
    check_file(path, "a CSV file")
    dialect = sniff_file(path, skip_rows)
    if dialect is None:
        raise DataError(f"{path} has no rows; give a file with a header row and data rows")
    if dialect.sampled_rows and dialect.ragged_rows > dialect.sampled_rows // 2:
        # pandas would take the surplus leading fields as an index and shift every column: refuse
        raise DataError(f"{path}: {dialect.ragged_rows} of its first {dialect.sampled_rows} rows do not have the header's "
                        f"{dialect.header_fields} fields; decimal commas with ',' as the delimiter? quote such numbers "
                        "or use ';' as the delimiter")
    return dialect


def _header_names(path: Path, dialect: Dialect, skip_rows: int) -> list[str]:
    text, _ = decode_head(read_head(path), str(path), truncated=True)
    lines = [line for line in text.splitlines()[skip_rows:] if line.strip()]
    return [name.strip() for name in next(csv.reader(lines[:1], delimiter=dialect.delimiter), [])]


def _read_arrow(path: Path, dialect: Dialect, skip_rows: int) -> pa.Table:
    stream = pa.input_stream(str(path), compression="gzip" if is_gzip(path) else None)
    with stream:
        table = pv.read_csv(
            stream,
            read_options=pv.ReadOptions(skip_rows=skip_rows, autogenerate_column_names=not dialect.has_header,
                                        encoding=dialect.encoding),
            parse_options=pv.ParseOptions(delimiter=dialect.delimiter),
            convert_options=pv.ConvertOptions(decimal_point="," if dialect.decimal_comma else ".",
                                              strings_can_be_null=True),
        )
    names = [n.strip() for n in table.column_names]
    if not dialect.has_header:
        names = [f"c{i}" for i in range(len(names))]
    return table.rename_columns(names)


def _read_pandas(path: Path, dialect: Dialect, skip_rows: int) -> pd.DataFrame:
    try:
        frame = _pandas_reader(path, dialect, skip_rows, dtype=str)
    except _PARSE_ERRORS as exc:
        raise DataError(f"{path} could not be parsed as CSV: {first_line(exc)}; check its delimiter and row lengths") from exc
    return _clean_names(frame, dialect)


def _pandas_reader(path: Path, dialect: Dialect, skip_rows: int, **kwargs):
    return pd.read_csv(
        path,
        sep=dialect.delimiter,
        header=0 if dialect.has_header else None,
        skiprows=skip_rows,
        encoding=dialect.encoding,
        decimal="," if dialect.decimal_comma else ".",
        compression="gzip" if is_gzip(path) else None,
        skip_blank_lines=True,
        **kwargs,
    )


def _clean_names(frame: pd.DataFrame, dialect: Dialect) -> pd.DataFrame:
    if dialect.has_header:
        frame.columns = [str(c).strip() for c in frame.columns]
    else:
        frame.columns = [f"c{i}" for i in range(frame.shape[1])]
    return frame
