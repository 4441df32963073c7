"""`jepawatch watch --state FILE`: how far watching got, and the context the next window needs.

Saved atomically (temporary file, then rename) right after the rows of newly scored windows
have been written out, at most once a second between windows, on a file switch, and on exit.
The position and the scoring context are saved together, so a restart (or a kill -9) resumes
exactly where the saved state was: the rows after it are read again and the windows after it
scored once. The one gap that cannot be closed is between writing a window's line and saving
the state (well under a millisecond for the write, a few for the fsync); a kill -9 exactly there
repeats that window's line on restart, with the same `window_start`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from jepawatch.errors import DataError
from jepawatch.state_file import StateFile

WATCH_STATE_FORMAT = "jepawatch-watch-state/1"


@dataclass
class WatchState(StateFile):
    FORMAT: ClassVar[str] = WATCH_STATE_FORMAT
    START_OVER: ClassVar[str] = "delete it to watch from the beginning"

    mode: str  # follow | replay
    source: str  # the watched path, absolute
    position: dict  # follow: a FilePosition; replay: {"rows": rows consumed}
    context: dict  # StreamContext.to_dict()
    totals: dict = field(default_factory=dict)  # windows, alerts, malformed
    alerts: dict | None = None  # alerts.pipeline.Alerting.state(): an open alert and the window count
    format: str = WATCH_STATE_FORMAT

    def check(self, path: Path, weights_sha256: str, stride: int, mode: str, source: str) -> None:
        self.check_model(path, weights_sha256, stride)
        if self.mode != mode:
            raise DataError(f"state file {path} was made with --{self.mode}; use --{self.mode}, or a new --state file")
        if self.source != source:
            raise DataError(f"state file {path} was made watching {self.source}; use a new --state file for {source}")
