"""Where `watch` gets rows: a followed CSV (tail -F), a live source its adapter follows (a
Prometheus server), or a replayed file (any adapter), as ticks.

A tick carries a batch of raw rows in the model's channel order, or nothing (the file is idle,
so the display can refresh and the caller can stop), plus what happened to the file and how
many malformed rows were skipped.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from jepawatch.adapters import AUTO, ReadOptions, Series, iter_batches
from jepawatch.adapters.registry import as_source, follow
from jepawatch.adapters.csv_dialect import is_binary_line, looks_like_utf16
from jepawatch.adapters.csv_lines import RowParser
from jepawatch.adapters.quality import ERROR_SHARE, MIN_ROWS_FOR_ERROR, ReadTally
from jepawatch.errors import ConfigError, DataError
from jepawatch.live.follow import FilePosition, FollowedFile

DEFAULT_POLL_SECONDS = 0.05


@dataclass
class Tick:
    batch: Series | None = None
    events: list[str] = field(default_factory=list)
    malformed: int = 0
    first_problem: str | None = None
    waiting: bool = False  # follow mode: the file does not exist (yet, or any more)
    gap: bool = False  # the batch does not follow the rows before it: rows between were lost


class FollowSource:
    """Rows of a growing CSV as they are appended; never ends (the caller stops)."""

    def __init__(self, path: Path, channels: list[str], timestamp_column: str | None,
                 poll_seconds: float = DEFAULT_POLL_SECONDS, position: FilePosition | None = None,
                 series_column: str | None = None):
        self.path = Path(path)
        self.channels = list(channels)
        self.poll_seconds = poll_seconds
        self.file = FollowedFile(self.path, position)
        self.parser = RowParser(self.channels, timestamp_column, str(self.path), series_column)
        if position is not None and position.header is not None:
            self.parser.set_header(position.header)
        self.rows_read = 0
        self.valid_rows = self.malformed_rows = 0  # this run's, for the same threshold `score` applies

    @property
    def long_format(self) -> bool:
        """Whether rows carry a series id (decided by `check_header`)."""
        return self.parser.series_column is not None

    def check_header(self) -> None:
        """Fail now, not after the start line, when the file is already there with the wrong columns;
        decide whether it is a long-format table (a series_id column in its header, unless told)."""
        try:
            self._check_header()
        finally:
            if self.parser.series_column == AUTO:  # no header to decide on yet: one series unless told
                self.parser.series_column = None

    def _check_header(self) -> None:
        if self.parser.header is not None:
            return
        if not self.path.is_file():  # not there yet (or a FIFO, which the caller refuses): nothing to check
            return
        try:
            with open(self.path, "rb") as handle:
                first = handle.readline()
        except OSError:
            return
        if first.endswith(b"\n"):
            self._take_header([_decode(first.rstrip(b"\r\n"))])
            self.parser.header = self.file.header = None  # read again with the file

    @property
    def position(self) -> dict | None:
        position = self.file.position
        return None if position is None else position.to_dict()

    def __iter__(self) -> Iterator[Tick]:
        try:
            while True:
                result = self.file.poll()
                tick = Tick(events=list(result.events), malformed=result.dropped_partial, waiting=result.waiting,
                            gap=result.gap)  # the cursor starts afresh now, before any state is saved
                parts = []  # FollowedFile never returns rows after a gap in one poll with rows before it
                for chunk in result.chunks:
                    lines = [_decode(line) for line in chunk.lines]
                    if chunk.starts_file:
                        lines = self._take_header(lines)
                    parsed = self.parser.parse(lines)
                    tick.malformed += parsed.malformed
                    self.malformed_rows += parsed.malformed
                    self.valid_rows += len(parsed.values)
                    self._check_readable(parsed.first_problem)
                    tick.first_problem = tick.first_problem or parsed.first_problem
                    if len(parsed.values):
                        parts.append(Series(parsed.values, self.channels, parsed.timestamps,
                                            series_ids=parsed.series_ids))
                if parts:
                    tick.batch = Series.concat(parts) if len(parts) > 1 else parts[0]
                    self.rows_read += tick.batch.n_steps
                yield tick
                if not result.more and tick.batch is None:
                    time.sleep(self.poll_seconds)
        finally:
            self.file.close()

    def _check_readable(self, problem: str | None) -> None:
        """Most rows malformed is a file read wrongly, not a few bad rows: the error `score` gives."""
        total = self.valid_rows + self.malformed_rows
        if total >= MIN_ROWS_FOR_ERROR and self.malformed_rows > ERROR_SHARE * total:
            raise DataError(f"{self.path}: {self.malformed_rows:,} of the first {total:,} rows could not be read"
                            f"{f' ({problem})' if problem else ''}; check its delimiter, quoting and decimal separator")

    def _take_header(self, lines: list[str]) -> list[str]:
        if not lines:
            return lines
        first = lines[0].lstrip("\ufeff")
        if self.parser.is_header(first):
            self.parser.set_header(first, lines[1:])
            self.file.header = first
            return lines[1:]
        if self.parser.header is None:
            if looks_like_utf16(lines[0]):
                raise DataError(f"{self.path} looks like UTF-16 text without a byte-order mark; save it as UTF-8 CSV")
            if is_binary_line(first):
                raise DataError(f"{self.path} is not a text file (its first line is binary); watch --follow reads a CSV")
            raise DataError(f"{self.path} has no header line; watch --follow needs the column names in its first line")
        self.file.header = self.parser.header  # header-less rows after a copytruncate: the file keeps its header
        return lines


@dataclass(frozen=True)
class Speed:
    """Replay pace: rows per second, a multiple of real time (needs timestamps), or neither (as fast as possible)."""

    rows_per_second: float | None = None
    time_multiple: float | None = None

    def __str__(self) -> str:
        if self.rows_per_second:
            return f"{self.rows_per_second:g} rows/s"
        if self.time_multiple:
            return f"{self.time_multiple:g}x real time"
        return "as fast as possible"


def parse_speed(text: str) -> Speed:
    text = text.strip().lower()
    if text in ("max", "0", ""):
        return Speed()
    match = re.fullmatch(r"(\d+(?:\.\d*)?|\.\d+)(x?)", text)
    if not match or float(match.group(1)) <= 0:
        raise ConfigError(f"--speed {text!r}: give rows per second (e.g. 200), a multiple of real time (e.g. 60x), or max")
    value = float(match.group(1))
    return Speed(time_multiple=value) if match.group(2) else Speed(rows_per_second=value)


class AdapterSource:
    """A live source its adapter follows (a Prometheus server: `Adapter.follow`); never ends."""

    def __init__(self, source: str, adapter: str | None, options: ReadOptions, position: dict | None):
        self.source, self.adapter, self.options = source, adapter, options
        self._position = position

    @property
    def position(self) -> dict | None:
        return self._position

    @property
    def long_format(self) -> bool:
        return bool(self.options.extra.get("series_by"))

    def __iter__(self) -> Iterator[Tick]:
        feed = follow(self.source, self.adapter, self.options, self._position)
        try:
            for fed in feed:
                self._position = fed.position
                yield Tick(batch=fed.batch, events=list(fed.events))
        finally:
            getattr(feed, "close", lambda: None)()


class ReplaySource:
    """A finished file (any format an adapter reads) played through at a pace; ends with the file."""

    def __init__(self, path: Path | str, adapter: str | None, options: ReadOptions, speed: Speed, skip_rows: int = 0):
        self.path = as_source(path)  # a server's URL stays text
        self.adapter = adapter
        self.options = options
        self.speed = speed
        self.skip_rows = skip_rows
        self.rows_read = skip_rows

    @property
    def position(self) -> dict:
        return {"rows": self.rows_read}

    @property
    def long_format(self) -> bool:
        """Whether rows carry a series id (the read options' series column, found in the file)."""
        batches = iter_batches(self.path, self.adapter, self.options)
        try:
            first = next(batches, None)
        finally:
            getattr(batches, "close", lambda: None)()  # the file is read again from its start
        return first is not None and first.series_ids is not None

    def __iter__(self) -> Iterator[Tick]:
        clock = _Pace(self.speed)
        seen = 0
        tally = ReadTally(str(self.path))
        for batch in iter_batches(self.path, self.adapter, self.options):
            tally.add(batch)
            if seen + batch.n_steps <= self.skip_rows:
                seen += batch.n_steps
                continue
            if seen < self.skip_rows:
                batch = batch.slice(self.skip_rows - seen, batch.n_steps)
            seen += batch.n_steps
            if self.speed.time_multiple and (batch.timestamps is None or not np.issubdtype(batch.timestamps.dtype, np.datetime64)):
                raise ConfigError(f"{self.path} has no date/time column, so it cannot be replayed at a multiple of "
                                  "real time; give --speed in rows per second")
            for piece in clock.pieces(batch):
                clock.wait_for(piece)
                self.rows_read += piece.n_steps
                yield Tick(batch=piece)
        if tally.warning():
            yield Tick(events=[tally.warning()])


class _Pace:
    TICKS_PER_SECOND = 10

    def __init__(self, speed: Speed):
        self.speed = speed
        self.started: float | None = None
        self.first_time: np.datetime64 | None = None
        self.rows = 0

    def pieces(self, batch: Series) -> Iterator[Series]:
        if self.speed.rows_per_second:
            size = max(1, int(self.speed.rows_per_second / self.TICKS_PER_SECOND))
        elif self.speed.time_multiple and batch.n_steps > 1:
            step = np.median(np.diff(batch.timestamps).astype("timedelta64[ns]").astype(np.float64)) / 1e9
            size = max(1, int(self.speed.time_multiple / max(step, 1e-9) / self.TICKS_PER_SECOND))
        else:
            size = batch.n_steps
        for start in range(0, batch.n_steps, size):
            yield batch.slice(start, min(start + size, batch.n_steps))

    def wait_for(self, piece: Series) -> None:
        """Sleep until `piece`'s first row is due."""
        now = time.monotonic()
        if self.started is None:
            self.started = now
        if self.speed.rows_per_second:
            due = self.started + self.rows / self.speed.rows_per_second
        elif self.speed.time_multiple:
            first = piece.timestamps[0]
            if self.first_time is None:
                self.first_time = first
            elapsed = (first - self.first_time).astype("timedelta64[ns]").astype(np.float64) / 1e9
            due = self.started + max(0.0, elapsed) / self.speed.time_multiple
        else:
            due = now
        if due > now:
            time.sleep(due - now)
        self.rows += piece.n_steps


def _decode(line: bytes) -> str:
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        return line.decode("latin-1")
