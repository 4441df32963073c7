"""Write files so that a reader never sees a half-written one: temporary file, then rename; and read
such JSON records back."""

from __future__ import annotations

import errno
import json
import math
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> None:
    """Call `write(tmp_path)` on a temporary file beside `path`, fsync it, then rename it over `path`."""
    path = Path(path)
    ensure_dir(path.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    os.chmod(tmp_path, umask_mode(0o666))  # mkstemp makes 0600; a written file gets the usual mode
    try:
        write(tmp_path)
        with open(tmp_path, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def remove_stale_temporaries(path: str | Path) -> int:
    """Remove the temporaries `atomic_write` leaves beside `path` when it is killed mid-write
    (`.NAME.XXXXXXXX.tmp`); returns how many. Call it only while holding the lock that keeps other
    writers of `path` away (a temporary of a write in progress looks the same)."""
    path = Path(path)
    ours = re.compile(rf"^\.{re.escape(path.name)}\.[a-z0-9_]{{8}}\.tmp$")
    removed = 0
    try:
        candidates = list(path.parent.iterdir()) if path.parent.is_dir() else []
    except OSError:
        return 0
    for candidate in candidates:
        if ours.match(candidate.name) and candidate.is_file() and not candidate.is_symlink():
            candidate.unlink(missing_ok=True)
            removed += 1
    return removed


def ensure_dir(directory: Path) -> None:
    """mkdir -p; a file in the way is ENOTDIR naming that file (mkdir says "File exists")."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        blocker = next((p for p in [directory, *directory.parents] if p.exists() and not p.is_dir()), directory)
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(blocker)) from None


def umask_mode(base: int) -> int:
    """`base` (0o666 for a file, 0o777 for a directory) less the process's umask: what open() and mkdir() give."""
    return base & ~_umask()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write(path, lambda p: p.write_text(text, encoding="utf-8"))


def atomic_write_json(path: str | Path, obj: object) -> None:
    atomic_write_text(path, json.dumps(finite(obj), indent=2, sort_keys=False) + "\n")


def finite(value: object) -> object:
    """JSON has no NaN or Infinity: such a float is written as null (every JSON jepawatch writes goes
    through this, so that any reader parses it)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


def json_line(row: dict) -> str:
    """One JSON object on one line (a scored row), NaN and Infinity as null."""
    return json.dumps(finite(row)) + "\n"


def read_json_record(path: str | Path, record_format: str, fix: str) -> dict | None:
    """The JSON object at `path` whose "format" is `record_format`; None when there is no file.
    Anything else is a one-line DataError ending in `fix` (what the user should do)."""
    from jepawatch.errors import DataError

    path = Path(path)
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text())
        if not isinstance(data, dict) or data.get("format") != record_format:
            raise ValueError(f"not a {record_format} file")
        return data
    except (ValueError, OSError) as exc:
        raise DataError(f"state file {path} is unreadable ({exc}); {fix}") from None
