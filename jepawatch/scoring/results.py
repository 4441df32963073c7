"""Writing scored windows to .jsonl, .csv or .parquet.

A run without a state writes the whole file atomically (temporary file, then rename). An
incremental run (`score --state`) extends what the state says is there: JSON lines and CSV are
append-only, so their existing rows are never rewritten -- the file is cut back to the size the
state recorded (dropping what a run that crashed before saving its state left), the new rows
are appended and fsynced, and only then is the state saved. Parquet cannot be appended to; it
is read back with its own types and rewritten atomically.

`OutputMark` is what the state records of the output: how many rows, and for JSON lines and CSV
the byte size just after the last of them.
"""

from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from jepawatch.adapters.files import same_file
from jepawatch.atomic import atomic_write, json_line
from jepawatch.errors import ConfigError, DataError

FORMATS = (".jsonl", ".csv", ".parquet")


@dataclass(frozen=True)
class OutputMark:
    rows: int
    bytes: int | None = None  # .jsonl/.csv: the size after the last row; None: unknown (Parquet, an older state)


@dataclass(frozen=True)
class OutputBehind:
    """The output holds fewer rows than the state says (the state is ahead of it)."""

    mark: OutputMark  # what the output really holds
    last_start: int | None  # window_start of its last row; None when it holds none


def check_output_path(path: Path, data: Path | None = None, state: Path | None = None) -> None:
    if path.suffix.lower() not in FORMATS:
        raise ConfigError(f"--out {path}: write .jsonl, .csv or .parquet")
    if path.is_dir():
        raise ConfigError(f"--out {path} is a directory; give a file name ending in .jsonl, .csv or .parquet")
    for other, what in ((data, "the input"), (state, "the --state file")):
        if other is not None and same_file(path, other):
            raise ConfigError(f"--out {path} is {what}; write the scores to another file")


def write_results(path: Path, rows: list[dict]) -> OutputMark:
    """Write `path` whole, atomically; what it then holds."""
    check_output_path(path)
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        atomic_write(path, lambda tmp: pd.DataFrame(rows).to_parquet(tmp, index=False))
        return OutputMark(len(rows))
    text = _text(rows, suffix, header=True)
    atomic_write(path, lambda tmp: tmp.write_bytes(text))
    return OutputMark(len(rows), len(text))


def append_results(path: Path, rows: list[dict], mark: OutputMark) -> OutputMark:
    """Extend `path`, which holds at least `mark.rows` rows (`output_behind` says when it does not):
    rows after them are dropped, then `rows` appended. Returns what it then holds."""
    check_output_path(path)
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        old = _read_parquet(path).head(mark.rows) if mark.rows else pd.DataFrame()
        new = pd.concat([old, pd.DataFrame(rows)], ignore_index=True) if len(old) else pd.DataFrame(rows)
        atomic_write(path, lambda tmp: new.to_parquet(tmp, index=False))
        return OutputMark(len(new))
    offset = _cut_offset(path, mark, suffix)
    if offset is None:
        raise DataError(f"{path} holds fewer rows than the state says ({mark.rows}); it was changed by something "
                        "else: move it away or delete the state file")
    text = _text(rows, suffix, header=offset == 0)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        os.ftruncate(fd, offset)
        try:
            os.lseek(fd, offset, os.SEEK_SET)
            view = memoryview(text)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        except BaseException:
            os.ftruncate(fd, offset)  # the state still says `offset`; leave the file as it says
            raise
    finally:
        os.close(fd)
    return OutputMark(mark.rows + len(rows), offset + len(text))


def output_behind(path: Path, mark: OutputMark) -> OutputBehind | None:
    """None when `path` holds at least `mark.rows` rows; else what it does hold. A file that cannot be
    read as scores is a DataError."""
    if mark.rows == 0:
        return None
    if not path.exists():
        return OutputBehind(OutputMark(0, 0), None)
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        starts = _read_parquet(path).get("window_start", pd.Series([], dtype="int64"))
        if len(starts) >= mark.rows:
            return None
        return OutputBehind(OutputMark(len(starts)), int(starts.iloc[-1]) if len(starts) else None)
    if _cut_offset(path, mark, suffix) is not None:
        return None
    lines, offset = _complete_lines(path)
    header = suffix == ".csv"
    rows = lines[1:] if header else lines
    if not rows:
        return OutputBehind(OutputMark(0, offset if header and lines else 0), None)
    try:
        if header:
            names = next(csv.reader([lines[0]]))
            last_start = int(next(csv.reader([rows[-1]]))[names.index("window_start")])
        else:
            last_start = int(json.loads(rows[-1])["window_start"])
    except (ValueError, KeyError, TypeError, IndexError, StopIteration):
        raise DataError(f"{path} (the existing output) does not end in a scored row; "
                        "move it away or delete the state file") from None
    return OutputBehind(OutputMark(len(rows), offset), last_start)


# --- internals -------------------------------------------------------------------------------

def _text(rows: list[dict], suffix: str, header: bool) -> bytes:
    if suffix == ".csv":
        if not rows:
            return b""
        buffer = io.StringIO()
        pd.DataFrame(rows).to_csv(buffer, index=False, header=header, lineterminator="\n")
        return buffer.getvalue().encode("utf-8")
    return "".join(json_line(row) for row in rows).encode("utf-8")


def _cut_offset(path: Path, mark: OutputMark, suffix: str) -> int | None:
    """The byte offset just after the first `mark.rows` rows of `path`, or None when it holds fewer."""
    size = path.stat().st_size if path.exists() else 0
    if mark.bytes is not None:
        if size < mark.bytes:
            return None
        if mark.bytes == 0:
            return 0
        with open(path, "rb") as handle:
            handle.seek(mark.bytes - 1)
            if handle.read(1) == b"\n":
                return mark.bytes
    wanted = mark.rows + (suffix == ".csv" and mark.rows > 0)  # the CSV's header line
    if wanted == 0:
        return 0
    offset, found = 0, 0
    with open(path, "rb") as handle:
        for line in handle:
            if not line.endswith(b"\n"):
                break
            offset += len(line)
            found += 1
            if found == wanted:
                return offset
    return None


def _complete_lines(path: Path) -> tuple[list[str], int]:
    """The complete lines of `path` (text, without their newline) and the size they take."""
    data = path.read_bytes()
    end = data.rfind(b"\n") + 1
    text = data[:end].decode("utf-8", errors="replace")
    return [line for line in text.split("\n")[:-1]], end


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        return pd.read_parquet(path)
    except (ValueError, OSError) as exc:
        raise DataError(f"{path} (the existing output) could not be read: {str(exc).splitlines()[0]}; "
                        "move it away or delete the state file") from exc
