"""SIGTERM (systemd, kill, a batch scheduler) stops training as Ctrl-C does, but exits with 143."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from jepawatch.errors import TrainingInterrupted

TERMINATED_EXIT_CODE = 143  # 128 + SIGTERM, what a shell reports for a terminated process


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """The checkpoint of the last epoch is kept and the message says how to resume, as after Ctrl-C."""
    terminated = []

    def on_sigterm(*_):
        terminated.append(True)
        raise KeyboardInterrupt

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        yield
    except TrainingInterrupted as exc:
        if not terminated:
            raise
        stopped = TrainingInterrupted(str(exc).replace("training interrupted", "training terminated (SIGTERM)", 1))
        stopped.exit_code = TERMINATED_EXIT_CODE
        raise stopped from None
    except KeyboardInterrupt:
        if not terminated:
            raise
        stopped = TrainingInterrupted("training terminated (SIGTERM) before its first epoch ended; nothing was saved")
        stopped.exit_code = TERMINATED_EXIT_CODE
        raise stopped from None
    finally:
        signal.signal(signal.SIGTERM, previous)
