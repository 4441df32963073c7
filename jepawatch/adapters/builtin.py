"""The built-in plugin: CSV and Parquet, registered through the same hook as any third-party plugin."""

from __future__ import annotations

from jepawatch.adapters.csv_adapter import CsvAdapter
from jepawatch.adapters.hookspecs import hookimpl
from jepawatch.adapters.parquet_adapter import ParquetAdapter


@hookimpl
def register_adapters(register):
    register(CsvAdapter())
    register(ParquetAdapter())
