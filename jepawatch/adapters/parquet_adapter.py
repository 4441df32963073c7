"""The Parquet adapter (pyarrow): only the needed columns are read, and streaming goes row group by row group.

Column roles follow the same rules as CSV (`columns.py`), decided on the first rows; text
columns that are not mostly numbers are never read beyond that sample.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from jepawatch.adapters.columns import SAMPLE_ROWS, ArrowColumns, ColumnPlan, build_series, plan_columns
from jepawatch.adapters.contract import DEFAULT_BATCH_ROWS, Adapter, Dataset, ReadOptions, Series
from jepawatch.adapters.files import check_file, first_line
from jepawatch.errors import DataError

SUFFIXES = (".parquet", ".pq")
MAGIC = b"PAR1"


class ParquetAdapter(Adapter):
    name = "parquet"
    description = "Apache Parquet; reads only the columns it needs, streams by row group."
    formats = SUFFIXES

    def sniff(self, path: Path) -> float:
        if not path.is_file():
            return 0.0
        if path.name.lower().endswith(SUFFIXES):
            return 0.8  # generic: a format-specific adapter that recognises the file (0.9+) wins
        try:
            with open(path, "rb") as handle:
                return 0.7 if handle.read(4) == MAGIC else 0.0
        except OSError:
            return 0.0

    def read(self, path: Path, options: ReadOptions) -> Dataset:
        source = str(path)
        parquet, plan = _open(path, options)
        try:
            table = _stripped(parquet.read(columns=_original_names(parquet, plan)))
        except (OSError, pa.ArrowException) as exc:
            raise DataError(f"{source} could not be read as Parquet: {first_line(exc)}") from exc
        return Dataset(source=source, adapter=self.name, series=build_series(ArrowColumns(table), plan, source))

    def iter_batches(self, path: Path, options: ReadOptions, batch_rows: int = DEFAULT_BATCH_ROWS) -> Iterator[Series]:
        source = str(path)
        parquet, plan = _open(path, options)
        try:
            for batch in parquet.iter_batches(batch_size=batch_rows, columns=_original_names(parquet, plan)):
                yield build_series(ArrowColumns(_stripped(pa.Table.from_batches([batch]))), plan, source)
        except (OSError, pa.ArrowException) as exc:
            raise DataError(f"{source} could not be read as Parquet: {first_line(exc)}") from exc


def _open(path: Path, options: ReadOptions) -> tuple[pq.ParquetFile, ColumnPlan]:
    source = str(path)
    check_file(path, "a Parquet file")
    try:
        parquet = pq.ParquetFile(path)
        if parquet.metadata.num_rows == 0:
            raise DataError(f"{source} has columns but no rows")
        sample = pa.Table.from_batches([next(parquet.iter_batches(batch_size=SAMPLE_ROWS))])
    except (OSError, pa.ArrowException, StopIteration) as exc:
        raise DataError(f"{source} could not be read as Parquet: {first_line(exc)}; "
                        "check that it is a complete .parquet file") from exc
    return parquet, plan_columns(ArrowColumns(_stripped(sample)), options, source)


def _stripped(table: pa.Table) -> pa.Table:
    return table.rename_columns([str(n).strip() for n in table.column_names])


def _original_names(parquet: pq.ParquetFile, plan: ColumnPlan) -> list[str]:
    by_stripped = {str(n).strip(): n for n in parquet.schema_arrow.names}
    return [by_stripped[name] for name in plan.needed]
