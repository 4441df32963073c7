"""The adapter contract: what an adapter is, and the one result shape every adapter returns.

An adapter reads one kind of input (a CSV file, a Parquet file, a benchmark folder) and returns
a `Dataset`. A plain file is one `Series`; a benchmark layout has a training part and a test
part with per-step labels. Commands never look inside a format: `train` asks for the training
part, `score` / `evaluate` / `watch` for the part to be scored, and a plain file serves both.
"""

from __future__ import annotations

import abc
import hashlib
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import ClassVar, Iterator, Literal, Mapping

import numpy as np

from jepawatch.errors import JepawatchError

URL = re.compile(r"^([a-z][a-z0-9+.-]*)://", re.IGNORECASE)  # a source that is not a file: SCHEME://...
AUTO = "auto"  # ReadOptions.label_column: look for a 0/1 column named like a label (series_column: one named series_id)
DEFAULT_BATCH_ROWS = 65_536

Role = Literal["train", "test"]


def url_scheme(source: object) -> str | None:
    """The scheme of a source given as a URL (`http://host:9090` -> "http"), else None (a file or folder)."""
    match = URL.match(source) if isinstance(source, str) else None
    return match.group(1).lower() if match else None


def url_name(url: str) -> str:
    """A server's short name, for bundles and series: its host and port (`http://localhost:9090` ->
    "localhost-9090")."""
    host = url.split("://", 1)[-1].split("/", 1)[0].split("?", 1)[0].rsplit("@", 1)[-1]
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", host).strip("-.") or "server"


class AdapterError(JepawatchError):
    """An adapter broke the contract (a plugin bug), or no adapter fits the input."""


@dataclass
class Series:
    """One multivariate series as read: values, channel names, and what came with them."""

    values: np.ndarray  # (T, V) float32; NaN marks a missing cell
    channels: list[str]  # (V,) unique names, in column order
    timestamps: np.ndarray | None = None  # (T,) datetime64 or numeric, as read
    labels: np.ndarray | None = None  # (T,) uint8, 1 = anomalous step
    metadata: dict = field(default_factory=dict)  # source, dropped columns, missing cells, ...
    series_ids: np.ndarray | None = None  # (T,) object str: which series of a long-format table each row is

    def __post_init__(self) -> None:
        if not isinstance(self.values, np.ndarray) or self.values.ndim != 2 or self.values.dtype != np.float32:
            raise AdapterError(f"an adapter returned values that are not a (T, V) float32 array "
                               f"(got {getattr(self.values, 'shape', '?')} {getattr(self.values, 'dtype', type(self.values).__name__)})")
        n_steps, n_channels = self.values.shape
        if len(self.channels) != n_channels:
            raise AdapterError(f"an adapter returned {n_channels} columns of values but {len(self.channels)} channel names")
        if len(set(self.channels)) != len(self.channels):
            raise AdapterError("an adapter returned duplicate channel names")
        for name, array in (("timestamps", self.timestamps), ("labels", self.labels), ("series ids", self.series_ids)):
            if array is not None and (array.ndim != 1 or len(array) != n_steps):
                raise AdapterError(f"an adapter returned {name} of shape {array.shape} for {n_steps} steps")

    @property
    def n_steps(self) -> int:
        return self.values.shape[0]

    @property
    def n_channels(self) -> int:
        return self.values.shape[1]

    def missing_cells(self) -> int:
        return int(np.isnan(self.values).sum())

    def fingerprint(self) -> str:
        """SHA-256 (first 16 hex digits) of the channel names and float32 values: same data, same print."""
        digest = hashlib.sha256("\x1f".join(self.channels).encode())
        digest.update(np.ascontiguousarray(self.values).tobytes())
        return digest.hexdigest()[:16]

    def slice(self, start: int, stop: int) -> "Series":
        return replace(
            self,
            values=self.values[start:stop],
            timestamps=None if self.timestamps is None else self.timestamps[start:stop],
            labels=None if self.labels is None else self.labels[start:stop],
            series_ids=None if self.series_ids is None else self.series_ids[start:stop],
        )

    def take(self, rows: np.ndarray) -> "Series":
        """The rows at indices `rows` (T',), in that order."""
        return replace(
            self,
            values=self.values[rows],
            timestamps=None if self.timestamps is None else self.timestamps[rows],
            labels=None if self.labels is None else self.labels[rows],
            series_ids=None if self.series_ids is None else self.series_ids[rows],
        )

    @staticmethod
    def concat(parts: list["Series"], metadata: dict | None = None) -> "Series":
        """Stack parts with the same channels in time order (e.g. streamed batches, telemanom channels)."""
        first = parts[0]
        for part in parts[1:]:
            if part.channels != first.channels:
                raise AdapterError("cannot join parts whose channels differ")
        stamps = [p.timestamps for p in parts]
        labels = [p.labels for p in parts]
        ids = [p.series_ids for p in parts]
        return Series(
            values=np.concatenate([p.values for p in parts]) if len(parts) > 1 else first.values,
            channels=list(first.channels),
            timestamps=np.concatenate(stamps) if all(s is not None for s in stamps) else None,
            labels=np.concatenate(labels) if all(lab is not None for lab in labels) else None,
            metadata=dict(first.metadata if metadata is None else metadata),
            series_ids=np.concatenate(ids) if all(i is not None for i in ids) else None,
        )


@dataclass
class Dataset:
    """What `Adapter.read` returns: one plain series, or a benchmark's train and test parts."""

    source: str
    adapter: str
    series: Series | None = None  # a plain file (labelled if it has a label column)
    train: Series | None = None  # a benchmark layout: the training part ...
    test: Series | None = None  # ... and the test part, with its per-step labels
    metadata: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if (self.series is None) == (self.train is None and self.test is None):
            raise AdapterError(f"adapter {self.adapter!r} must return either one series or train/test parts")
        if self.train is not None and self.test is not None and self.train.channels != self.test.channels:
            raise AdapterError(f"adapter {self.adapter!r} returned train and test parts with different channels")

    @property
    def is_benchmark(self) -> bool:
        return self.series is None

    def part(self, role: Role) -> Series:
        """The series a command works on: `train` trains, `test` is scored; a plain file is both."""
        if self.series is not None:
            return self.series
        chosen = self.train if role == "train" else self.test
        if chosen is None:
            raise AdapterError(f"{self.source} has no {role} part")
        return chosen


@dataclass
class Fed:
    """One poll of a followed source (`Adapter.follow`): the new rows (None: none yet), where reading
    got (what `watch --state` saves to resume there), and what happened, for the operator."""

    batch: Series | None
    position: dict
    events: list[str] = field(default_factory=list)
    caught_up: bool = False  # nothing more to read yet: the next rows are still to come
    error: str | None = None  # the source failed this poll (the feed asks again; a one-off reader stops)


@dataclass(frozen=True)
class ReadOptions:
    """What the user told us about the input (`--label-col`, `--timestamp-col`, `--adapter-option`)."""

    label_column: str | None = AUTO  # a column name, AUTO, or None for no labels
    timestamp_column: str | None = None  # None: found by name, by type, or by parsing
    columns: tuple[str, ...] | None = None  # read only these channels (projection), in this order
    series_column: str | None = None  # long format: a column name, AUTO (one named series_id), or None (not looked for)
    extra: Mapping[str, str | tuple[str, ...]] = field(default_factory=dict)  # adapter-specific, e.g. spacecraft=MSL;
    # a key given more than once holds a tuple of its values (refused unless the adapter's `repeatable` names it)


class Adapter(abc.ABC):
    """Reads one kind of input. Subclasses set the three class attributes and implement two methods."""

    name: ClassVar[str]  # what --adapter takes
    description: ClassVar[str]  # one line for `jepawatch adapters`
    formats: ClassVar[tuple[str, ...]]  # e.g. (".csv", ".csv.gz") or ("folder: train/ test/ ...",)
    options: ClassVar[tuple[str, ...]] = ()  # the keys --adapter-option accepts ("query.*": any key query.NAME)
    repeatable: ClassVar[tuple[str, ...]] = ()  # of those, the keys that may be given more than once (a tuple then)
    schemes: ClassVar[tuple[str, ...]] = ()  # URL schemes it reads (a server, not a file): `read` gets the URL text

    @abc.abstractmethod
    def sniff(self, path: Path) -> float:
        """How sure this adapter is that it can read `path`: 0 (cannot) to 1 (certain). Must not raise.

        Convention: 0.8 for a generic reader matching by file extension (csv, parquet), 0.9 and up
        for a format-specific reader that has looked inside (a SWaT header, a NASA folder), so
        the specific reader wins; scores within 0.05 of the best are a tie the user must break.
        """

    @abc.abstractmethod
    def read(self, path: Path, options: ReadOptions) -> Dataset:
        """Read `path` whole; raise `DataError` with a fix for anything wrong with the input."""

    follows: ClassVar[bool] = False  # `follow` is implemented: `watch` follows the source live

    def follow(self, path, options: ReadOptions, position: dict | None) -> Iterator[Fed]:
        """Rows of a live source as they come, from `position` (None: where the options say to
        start), forever; a poll with nothing new yields `Fed(None, position)` at least every half
        second, so the caller can stop. `options.columns` fixes the channels. (A CSV file is
        followed by `watch` itself, as tail -F; this is for sources that are not files.)"""
        raise AdapterError(f"adapter {self.name!r} cannot follow its input live; use --replay")

    def iter_batches(self, path: Path, options: ReadOptions, batch_rows: int = DEFAULT_BATCH_ROWS) -> Iterator[Series]:
        """Yield the scored part in consecutive batches of at most `batch_rows` steps.

        This default reads the whole input first; adapters for large files override it so that
        memory stays flat in the length of the file.
        """
        series = self.read(path, options).part("test")
        for start in range(0, series.n_steps, batch_rows):
            yield series.slice(start, start + batch_rows)
