"""Small checks shared by adapters."""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path

from jepawatch.errors import DataError


def missing_path_problem(path: Path) -> str | None:
    """Why `path` cannot be opened when it does not exist as far as `Path.exists` says: a symlink loop,
    a dangling symlink, or nothing there; None when it does exist."""
    try:
        os.stat(path)
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return f"{path} is a symlink loop; point it at a real file"
        if os.path.islink(path):
            return f"{path} is a symlink to {os.readlink(path)}, which does not exist"
        if exc.errno == errno.ENOENT:
            return f"{path}: no such file or folder; check the path"
        return f"{path}: {exc.strerror}"


def same_file(a: Path, b: Path) -> bool:
    """Whether two paths name one file; False when either cannot be resolved (a symlink loop: a
    RuntimeError from Path.resolve before Python 3.13, an OSError after) - reading it says why."""
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and os.path.samefile(a, b))
    except (OSError, RuntimeError):
        return False


def check_file(path: Path, what: str) -> None:
    """Raise DataError unless `path` is an existing, non-empty file."""
    problem = missing_path_problem(path)
    if problem is not None:
        raise DataError(problem)
    if path.is_dir():
        raise DataError(f"{path} is a folder; give {what}")
    if path.stat().st_size == 0:
        raise DataError(f"{path} is empty; give {what} with a header row and data rows")


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (library errors can run to many lines)."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


GENERIC_BY_NAME = 0.8  # a file named like a generic format: a format-specific adapter that recognises it (0.9+) wins


def sniff_generic(path: Path, suffixes: tuple[str, ...], by_content: Callable[[Path], float]) -> float:
    """How sure a generic format's adapter (CSV, Parquet) is of `path`: 0 for no file, GENERIC_BY_NAME
    for a file named like the format, else what `by_content` makes of the file (0 when it cannot be read)."""
    if not path.is_file():
        return 0.0
    if path.name.lower().endswith(suffixes):
        return GENERIC_BY_NAME
    try:
        return by_content(path)
    except (OSError, DataError):
        return 0.0
