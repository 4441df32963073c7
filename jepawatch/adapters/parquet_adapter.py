"""The Parquet adapter (pyarrow): only the needed columns are read, and streaming goes row group by row group
(so streaming memory is bounded by the file's row-group size, whatever the batch size).

Column roles follow the same rules as CSV (`columns.py`), decided on the first rows; text
columns that are not mostly numbers are never read beyond that sample.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from jepawatch.adapters.columns import (
    SAMPLE_ROWS,
    ArrowColumns,
    ColumnPlan,
    build_series,
    plan_columns,
)
from jepawatch.adapters.contract import (
    DEFAULT_BATCH_ROWS,
    Adapter,
    Dataset,
    ReadOptions,
    Series,
)
from jepawatch.adapters.files import check_file, first_line, sniff_generic
from jepawatch.errors import DataError

SUFFIXES = (".parquet", ".pq")
MAGIC = b"PAR1"


def _has_magic(path: Path) -> float:
    with open(path, "rb") as handle:
        return 0.7 if handle.read(4) == MAGIC else 0.0


class ParquetAdapter(Adapter):
    name = "parquet"
    description = "Apache Parquet; reads only the columns it needs, streams by row group."
    formats = SUFFIXES

    def sniff(self, path: Path) -> float:
        return sniff_generic(path, SUFFIXES, _has_magic)

    def read(self, path: Path, options: ReadOptions) -> Dataset:
        source = str(path)
        parquet, plan = _open(path, options)
        try:
            table = _stripped(pq.read_table(path, columns=_original_names(parquet, plan)))  # multithreaded over row groups
        except (OSError, pa.ArrowException) as exc:
            raise DataError(f"{source} could not be read as Parquet: {first_line(exc)}") from exc
        return Dataset(source=source, adapter=self.name, series=build_series(ArrowColumns(table), plan, source))

    def iter_batches(self, path: Path, options: ReadOptions, batch_rows: int = DEFAULT_BATCH_ROWS) -> Iterator[Series]:
        source = str(path)
        parquet, plan = _open(path, options)
        columns = _original_names(parquet, plan)
        try:
            # Row group by row group: pyarrow's own iter_batches buffers far ahead (it held the
            # whole 1M-row benchmark file), so memory is bounded by one row group here.
            for group in range(parquet.num_row_groups):
                table = _stripped(parquet.read_row_group(group, columns=columns))
                for start in range(0, table.num_rows, batch_rows):
                    yield build_series(ArrowColumns(table.slice(start, batch_rows)), plan, source)
        except (OSError, pa.ArrowException) as exc:
            raise DataError(f"{source} could not be read as Parquet: {first_line(exc)}") from exc


def _open(path: Path, options: ReadOptions) -> tuple[pq.ParquetFile, ColumnPlan]:
    source = str(path)
    check_file(path, "a Parquet file")
    try:
        parquet = pq.ParquetFile(path)
        if parquet.metadata.num_rows == 0:
            raise DataError(f"{source} has columns but no rows")
        return parquet, plan_columns(_SchemaColumns(parquet), options, source)
    except (OSError, pa.ArrowException) as exc:
        raise DataError(f"{source} could not be read as Parquet: {first_line(exc)}; "
                        "check that it is a complete .parquet file") from exc


class _SchemaColumns(ArrowColumns):
    """Column kinds from the schema; a column's first rows are read only when the plan asks for them."""

    def __init__(self, parquet: pq.ParquetFile):
        self.parquet = parquet
        self.table = _stripped(parquet.schema_arrow.empty_table())
        self.names = [str(n) for n in self.table.column_names]
        self._original = dict(zip(self.names, parquet.schema_arrow.names))

    def to_pandas(self, name: str, rows: int | None = None) -> pd.Series:
        first = self.parquet.read_row_group(0, columns=[self._original[name]]).column(0)
        return first.slice(0, rows or SAMPLE_ROWS).to_pandas()


def _stripped(table: pa.Table) -> pa.Table:
    return table.rename_columns([str(n).strip() for n in table.column_names])


def _original_names(parquet: pq.ParquetFile, plan: ColumnPlan) -> list[str]:
    by_stripped = {str(n).strip(): n for n in parquet.schema_arrow.names}
    return [by_stripped[name] for name in plan.needed]
