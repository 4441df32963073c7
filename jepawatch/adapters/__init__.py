"""Data adapters: the contract every reader follows, the plugin hook, and the built-in CSV and Parquet readers.

What a plugin author needs is importable from here:

    from jepawatch.adapters import Adapter, Dataset, ReadOptions, Series, hookimpl
"""

from jepawatch.adapters.columns import parse_labels, parse_timestamps, series_from_frame
from jepawatch.adapters.contract import (
    AUTO,
    DEFAULT_BATCH_ROWS,
    Adapter,
    AdapterError,
    Dataset,
    Fed,
    ReadOptions,
    Series,
    url_name,
    url_scheme,
)
from jepawatch.adapters.csv_adapter import iter_csv, read_csv
from jepawatch.adapters.hookspecs import hookimpl
from jepawatch.adapters.registry import (
    ENV_VAR,
    AdapterInfo,
    AdapterRegistry,
    installed,
    iter_batches,
    read_dataset,
    source_name,
)
from jepawatch.adapters.report import reading_report

__all__ = [
    "AUTO", "DEFAULT_BATCH_ROWS", "ENV_VAR", "Adapter", "AdapterError", "AdapterInfo", "AdapterRegistry",
    "Dataset", "Fed", "ReadOptions", "Series", "hookimpl", "installed", "iter_batches", "iter_csv", "parse_labels", "parse_timestamps",
    "read_csv", "read_dataset", "reading_report", "series_from_frame", "source_name", "url_name", "url_scheme",
]
