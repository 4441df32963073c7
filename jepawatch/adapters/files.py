"""Small checks shared by adapters."""

from __future__ import annotations

from pathlib import Path

from jepawatch.errors import DataError


def check_file(path: Path, what: str) -> None:
    """Raise DataError unless `path` is an existing, non-empty file."""
    if not path.exists():
        raise DataError(f"{path}: no such file or folder; check the path")
    if path.is_dir():
        raise DataError(f"{path} is a folder; give {what}")
    if path.stat().st_size == 0:
        raise DataError(f"{path} is empty; give {what} with a header row and data rows")


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (library errors can run to many lines)."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
