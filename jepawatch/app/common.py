"""What every verb shares: the kind of data it takes, where its warnings go, and bundle lookup."""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Union

import pandas as pd

from jepawatch.adapters import AUTO, ReadOptions
from jepawatch.adapters.registry import as_source
from jepawatch.errors import ConfigError, JepawatchWarning

DataSource = Union[str, "os.PathLike[str]", pd.DataFrame]  # a file, a benchmark folder, a URL, or a DataFrame
Warn = Callable[[str], None]


def warn_python(message: str) -> None:
    """The API's default `warn`: a JepawatchWarning (shown once per message in a notebook)."""
    warnings.warn(message, JepawatchWarning, stacklevel=3)


def as_data(data: DataSource) -> Path | str | pd.DataFrame:
    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, (str, os.PathLike)):
        return as_source(data)  # a server's URL (prometheus) stays text, never a Path
    raise ConfigError(f"data must be a path or a pandas DataFrame, not {type(data).__name__}")


def read_options(label: str | None = AUTO, timestamp: str | None = None,
                 adapter_options: Mapping[str, object] | None = None, series: str | None = None) -> ReadOptions:
    """ReadOptions from the API's arguments: `label` a column, "auto" (found by name) or None (no labels);
    `series` the series column of a long-format table (None: the command's default)."""
    label_column = None if label in (None, "none") else label
    return ReadOptions(label_column=label_column, timestamp_column=timestamp, series_column=series,
                       extra={str(k): _option_text(v) for k, v in (adapter_options or {}).items()})


def _option_text(value: object) -> str | tuple[str, ...]:
    """An adapter option's value as the CLI gives it: text, or a tuple of texts for a list (a
    repeatable option, e.g. several Prometheus queries)."""
    if isinstance(value, (list, tuple)):
        return tuple(str(v) for v in value)
    return str(value)


def settings_overrides(settings: Mapping[str, object] | Sequence[str] | None) -> list[str]:
    """`{"model.d_model": 64}` (or `["model.d_model=64"]`) as the `--set` overrides configuration reads."""
    if settings is None:
        return []
    if isinstance(settings, Mapping):
        return [f"{key}={_setting_text(value)}" for key, value in settings.items()]
    if isinstance(settings, str):
        raise ConfigError(f"settings must be a dict of key: value or a list of 'key=value', not the string {settings!r}")
    return [str(item) for item in settings]


def _setting_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return "none" if value is None else str(value)
