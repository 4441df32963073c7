"""An exclusive lock beside a state file, so that two overlapping runs never interleave their writes.

`score --state S` and `watch --state S` hold `S.lock` (`fcntl.flock`) from reading the state to
saving it for the last time. The lock goes with the process: a run killed with kill -9 leaves no
stale lock behind. The lock file itself stays (removing it would let two runs lock two files).
"""

from __future__ import annotations

import fcntl
import math
import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from jepawatch.atomic import ensure_dir
from jepawatch.errors import ConfigError, StateBusy

POLL_SECONDS = 0.1


def lock_path(state: Path) -> Path:
    return state.with_name(state.name + ".lock")


def check_lock_wait(wait_seconds: float) -> None:
    """A ConfigError unless `wait_seconds` (--lock-wait) is a finite number of seconds, 0 or more."""
    if not (math.isfinite(wait_seconds) and wait_seconds >= 0):
        raise ConfigError(f"--lock-wait {wait_seconds:g}: give the seconds to wait for the state's lock, 0 or more")


@contextmanager
def state_lock(state: Path | None, wait_seconds: float) -> Iterator[None]:
    """Hold the lock of `state` (nothing when None); wait up to `wait_seconds` for another run to
    release it, then raise StateBusy."""
    check_lock_wait(wait_seconds)
    if state is None:
        yield
        return
    path = lock_path(state)
    ensure_dir(path.parent)  # the state's directory is made on first use, as saving the state would
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as exc:
        raise ConfigError(f"cannot create the lock file {path} for --state ({exc.strerror}); "
                          "use a --state file in a directory this user can write") from None
    try:
        deadline = time.monotonic() + max(0.0, wait_seconds)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise StateBusy(f"another run is using the state file {state} (it holds {path.name}); "
                                    f"waited {wait_seconds:g} s; try again later, or raise --lock-wait") from None
                time.sleep(POLL_SECONDS)
        yield
    finally:
        os.close(fd)  # releases the lock
