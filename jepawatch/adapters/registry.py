"""Which adapters are installed, and which one reads a given path.

Plugins load in this order: the built-in plugins (`DEFAULT_PLUGINS`, registered through the same
hook as everyone else's), then the `jepawatch` entry points of installed distributions. The
environment variable JEPAWATCH_PLUGINS limits the entry points to the distributions it names
(comma-separated; empty: built-ins only), so a test run or a locked-down server sees exactly
what it asks for.
"""

from __future__ import annotations

import functools
import importlib
import os
import re
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Iterable, Iterator

import pandas as pd
import pluggy

from jepawatch.adapters import hookspecs
from jepawatch.adapters.columns import series_from_frame
from jepawatch.adapters.contract import (DEFAULT_BATCH_ROWS, Adapter, AdapterError, Dataset, Fed, ReadOptions,
                                        Series, url_scheme)
from jepawatch.adapters.files import first_line, missing_path_problem
from jepawatch.errors import DataError

ENV_VAR = "JEPAWATCH_PLUGINS"
ENTRY_POINT_GROUP = "jepawatch"
DEFAULT_PLUGINS = ("jepawatch.adapters.builtin",)
AMBIGUOUS_WITHIN = 0.05  # sniff scores this close to the best are a tie
FRAME_SOURCE = "DataFrame"  # what a bundle records as the source of data given as a pandas DataFrame


@dataclass(frozen=True)
class AdapterInfo:
    name: str
    package: str
    formats: tuple[str, ...]
    description: str


class AdapterRegistry:
    """The adapters of the registered plugins, by name. Plugins only ever call `register`."""

    def __init__(self) -> None:
        self._plugins = pluggy.PluginManager(hookspecs.PROJECT)
        self._plugins.add_hookspecs(hookspecs)
        self._adapters: dict[str, Adapter] = {}
        self._packages: dict[str, str] = {}

    @classmethod
    def load(cls, selection: str | None = None, use_environment: bool = True) -> "AdapterRegistry":
        """Built-ins, then installed plugins (all of them, or those named in `selection` / JEPAWATCH_PLUGINS)."""
        if selection is None and use_environment:
            selection = os.environ.get(ENV_VAR)
        registry = cls()
        for module_name in DEFAULT_PLUGINS:
            registry.add_plugin(importlib.import_module(module_name), package="jepawatch")
        for entry_point, distribution in _selected_entry_points(selection):
            try:
                plugin = entry_point.load()
            except Exception as exc:  # a broken plugin must not take the tool down with a traceback
                raise AdapterError(
                    f"plugin {entry_point.name!r} from {distribution} failed to load ({type(exc).__name__}: "
                    f"{first_line(exc)}); reinstall it, or leave it out with {ENV_VAR}=<the plugins you want>"
                ) from exc
            registry.add_plugin(plugin, name=f"{distribution}:{entry_point.name}", package=distribution)
        return registry

    def add_plugin(self, plugin: object, name: str | None = None, package: str | None = None) -> None:
        """Register a plugin (module or object with a `register_adapters` hookimpl) and collect its adapters."""
        self._plugins.register(plugin, name=name)
        others = [p for p in self._plugins.get_plugins() if p is not plugin]
        call_this_plugin = self._plugins.subset_hook_caller("register_adapters", remove_plugins=others)
        owner = package or getattr(plugin, "__name__", type(plugin).__name__)

        def register(adapter: Adapter) -> None:
            _check_adapter(adapter, owner)
            if adapter.name in self._adapters:
                raise AdapterError(
                    f"two plugins register an adapter named {adapter.name!r} ({self._packages[adapter.name]} and "
                    f"{owner}); uninstall one, or choose with {ENV_VAR}"
                )
            self._adapters[adapter.name] = adapter
            self._packages[adapter.name] = owner

        call_this_plugin(register=register)

    @property
    def names(self) -> list[str]:
        return list(self._adapters)

    def infos(self) -> list[AdapterInfo]:
        return [AdapterInfo(a.name, self._packages[a.name], tuple(a.formats), a.description) for a in self._adapters.values()]

    def get(self, name: str) -> Adapter:
        try:
            return self._adapters[name]
        except KeyError:
            raise AdapterError(
                f"unknown adapter {name!r}; installed: {', '.join(self.names)} (`jepawatch adapters` describes them)"
            ) from None

    def choose(self, path: Path | str, name: str | None = None) -> Adapter:
        """The adapter named `name`, else the one whose `sniff` is surest about `path` (a URL: the one
        that reads its scheme)."""
        if name is not None:
            return self.get(name)
        scheme = url_scheme(path)
        if scheme is not None:
            return self._for_scheme(str(path), scheme)
        if not path.exists():
            raise DataError(missing_path_problem(path) or f"{path}: no such file or folder; check the path")
        scores = sorted(((self._sniff(a, path), a.name) for a in self._adapters.values()), reverse=True)
        best_score = scores[0][0] if scores else 0.0
        if best_score <= 0:
            formats = "; ".join(f"{a.name}: {', '.join(a.formats)}" for a in self._adapters.values())
            if path.is_dir():
                raise DataError(f"{path} is a folder that no installed adapter recognises as a benchmark layout "
                                f"(candidates: {formats}); give a data file, or a benchmark folder an adapter reads")
            if not path.is_file():
                raise DataError(f"{path} is not a regular file (a FIFO, a socket or a device?); score and train read "
                                "files; to follow a stream, write it to a file and `jepawatch watch --follow` that")
            raise DataError(f"no installed adapter can read {path} (candidates: {formats}); "
                            "give one of these, or name one with --adapter")
        tied = [n for s, n in scores if best_score - s < AMBIGUOUS_WITHIN]
        if len(tied) > 1:
            raise DataError(f"{path} could be read by several adapters ({', '.join(tied)}); choose one with --adapter")
        return self._adapters[scores[0][1]]

    def _for_scheme(self, url: str, scheme: str) -> Adapter:
        readers = [a for a in self._adapters.values() if scheme in getattr(a, "schemes", ())]
        if not readers:
            known = sorted({s for a in self._adapters.values() for s in getattr(a, "schemes", ())})
            raise DataError(f"no installed adapter reads {scheme}:// sources"
                            + (f" (installed: {', '.join(s + '://' for s in known)})" if known else "")
                            + "; a Prometheus server is read by the prometheus adapter of jepawatch-adapters "
                              "(pip install jepawatch-adapters), or give a file")
        if len(readers) > 1:
            raise DataError(f"{url} could be read by several adapters ({', '.join(a.name for a in readers)}); "
                            "choose one with --adapter")
        return readers[0]

    @staticmethod
    def _sniff(adapter: Adapter, path: Path) -> float:
        try:
            return float(adapter.sniff(path))
        except Exception:  # sniff must not raise; a plugin that does simply does not claim the path
            return 0.0


def _check_adapter(adapter: object, owner: str) -> None:
    if not isinstance(adapter, Adapter):
        missing = [a for a in ("name", "description", "formats", "sniff", "read") if not hasattr(adapter, a)]
        if missing:
            raise AdapterError(f"plugin {owner} registered {adapter!r}, which lacks {', '.join(missing)}; "
                               "adapters subclass jepawatch.adapters.Adapter")
    if not isinstance(getattr(adapter, "name", None), str) or not re.fullmatch(r"[a-z0-9][a-z0-9_.-]*", adapter.name):
        raise AdapterError(f"plugin {owner} registered an adapter with an invalid name {getattr(adapter, 'name', None)!r}; "
                           "use lower-case letters, digits, '-', '_' or '.'")


def _normalise(distribution: str) -> str:
    return re.sub(r"[-_.]+", "-", distribution).lower()


def _selected_entry_points(selection: str | None) -> Iterator[tuple[metadata.EntryPoint, str]]:
    found = []
    for entry_point in metadata.entry_points(group=ENTRY_POINT_GROUP):
        distribution = entry_point.dist.name if entry_point.dist is not None else entry_point.module
        found.append((entry_point, distribution))
    if selection is None:
        yield from sorted(found, key=lambda pair: (_normalise(pair[1]), pair[0].name))
        return
    wanted = [_normalise(n) for n in selection.split(",") if n.strip()]
    available = {_normalise(d) for _, d in found}
    unknown = [n for n in wanted if n not in available]
    if unknown:
        raise AdapterError(
            f"{ENV_VAR} names {', '.join(unknown)}, which is not an installed jepawatch plugin "
            f"(installed: {', '.join(sorted(available)) or 'none'}); fix or unset {ENV_VAR}"
        )
    seen = set()
    for entry_point, distribution in found:
        key = (_normalise(distribution), entry_point.name)
        if _normalise(distribution) in wanted and key not in seen:  # a distribution found twice on sys.path loads once
            seen.add(key)
            yield entry_point, distribution


@functools.cache
def installed() -> AdapterRegistry:
    """The process-wide registry (loaded once; tests call `installed.cache_clear()` after changing plugins)."""
    return AdapterRegistry.load()


def source_name(data: Path | str | pd.DataFrame) -> str:
    """How messages and bundles name `data`: its path, or `DataFrame`."""
    return FRAME_SOURCE if isinstance(data, pd.DataFrame) else str(data)


def read_dataset(path: Path | str | pd.DataFrame, adapter: str | None = None, options: ReadOptions | None = None,
                 registry: AdapterRegistry | None = None) -> Dataset:
    """Read `path` with the named adapter, or the one that recognises it. A pandas DataFrame is read by
    the CSV rules (numeric columns are channels; the time and label columns are found the same way)."""
    if isinstance(path, pd.DataFrame):
        return Dataset(source=FRAME_SOURCE, adapter="dataframe", series=_frame_series(path, adapter, options))
    registry = registry or installed()
    path = as_source(path)
    options = options or ReadOptions()
    chosen = registry.choose(path, adapter)
    _check_options(chosen, options)
    dataset = chosen.read(path, options)
    if not isinstance(dataset, Dataset):
        raise AdapterError(f"adapter {chosen.name!r} returned {type(dataset).__name__}, not a Dataset")
    return dataset


def iter_batches(path: Path | str | pd.DataFrame, adapter: str | None = None, options: ReadOptions | None = None,
                 batch_rows: int = DEFAULT_BATCH_ROWS, registry: AdapterRegistry | None = None) -> Iterable[Series]:
    """Stream the part of `path` that would be scored, `batch_rows` steps at a time."""
    if isinstance(path, pd.DataFrame):
        series = _frame_series(path, adapter, options)
        return (series.slice(start, start + batch_rows) for start in range(0, series.n_steps, batch_rows))
    registry = registry or installed()
    path = as_source(path)
    options = options or ReadOptions()
    chosen = registry.choose(path, adapter)
    _check_options(chosen, options)
    return chosen.iter_batches(path, options, batch_rows)


def follows(path: Path | str, adapter: str | None = None, registry: AdapterRegistry | None = None) -> bool:
    """Whether the adapter of `path` follows it live (a server; a CSV file is followed by watch itself)."""
    if url_scheme(path) is None and adapter is None:
        return False
    return bool(getattr((registry or installed()).choose(as_source(path), adapter), "follows", False))


def follow(path: Path | str, adapter: str | None, options: ReadOptions, position: dict | None,
           registry: AdapterRegistry | None = None) -> Iterator[Fed]:
    """The live feed of `path` by its adapter (`Adapter.follow`), from `position`."""
    chosen = (registry or installed()).choose(as_source(path), adapter)
    _check_options(chosen, options)
    return chosen.follow(as_source(path), options, position)


def _frame_series(frame: pd.DataFrame, adapter: str | None, options: ReadOptions | None) -> Series:
    if adapter is not None:
        raise DataError(f"adapter {adapter!r} reads files; a DataFrame is read as it is (leave the adapter out)")
    if (options or ReadOptions()).extra:
        raise DataError("adapter options apply to files; a DataFrame takes none")
    if isinstance(frame.index, pd.DatetimeIndex):  # a time index is the time column
        frame = frame.reset_index(names=frame.index.name or "timestamp")
    return series_from_frame(frame, options or ReadOptions(), FRAME_SOURCE)


def as_source(source: Path | str) -> Path | str:
    """A URL stays text (`Path` would fold its `//`); anything else is a path."""
    return str(source) if url_scheme(source) is not None else Path(source)


def _check_options(adapter: Adapter, options: ReadOptions) -> None:
    accepted = tuple(getattr(adapter, "options", ()))
    prefixes = tuple(a[:-1] for a in accepted if a.endswith(".*"))  # "query.*": query.cpu, query.memory, ...
    unknown = [key for key in options.extra if key not in accepted and not (prefixes and key.startswith(prefixes))]
    if unknown:
        raise DataError(f"adapter {adapter.name!r} has no option {unknown[0]!r}; "
                        + (f"it takes {', '.join(accepted)}" if accepted else "it takes no --adapter-option"))
    repeatable = tuple(getattr(adapter, "repeatable", ()))
    twice = [key for key, value in options.extra.items() if not isinstance(value, str) and key not in repeatable]
    if twice:
        raise DataError(f"--adapter-option {twice[0]} is given {len(options.extra[twice[0]])} times; adapter "
                        f"{adapter.name!r} takes it once")
