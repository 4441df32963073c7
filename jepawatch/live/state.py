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

from dataclasses import asdict, dataclass, field
from pathlib import Path

from jepawatch.atomic import atomic_write_json, read_json_record
from jepawatch.errors import DataError

WATCH_STATE_FORMAT = "jepawatch-watch-state/1"


@dataclass
class WatchState:
    model: str  # bundle path
    weights_sha256: str
    stride: int
    mode: str  # follow | replay
    source: str  # the watched path, absolute
    position: dict  # follow: a FilePosition; replay: {"rows": rows consumed}
    context: dict  # StreamContext.to_dict()
    totals: dict = field(default_factory=dict)  # windows, alerts, malformed
    alerts: dict | None = None  # alerts.pipeline.Alerting.state(): an open alert and the window count
    format: str = WATCH_STATE_FORMAT

    @classmethod
    def load(cls, path: Path) -> "WatchState | None":
        data = read_json_record(path, WATCH_STATE_FORMAT, "delete it to watch from the beginning")
        if data is None:
            return None
        try:
            return cls(**data)
        except TypeError as exc:
            raise DataError(f"state file {path} is unreadable ({exc}); delete it to watch from the beginning") from None

    def save(self, path: Path) -> None:
        atomic_write_json(path, asdict(self))

    def check(self, path: Path, weights_sha256: str, stride: int, mode: str, source: str) -> None:
        if self.weights_sha256 != weights_sha256:
            raise DataError(f"state file {path} belongs to another model ({self.model}); use a new --state file or delete it")
        if self.stride != stride:
            raise DataError(f"state file {path} was made with --stride {self.stride}; use that, or a new --state file")
        if self.mode != mode:
            raise DataError(f"state file {path} was made with --{self.mode}; use --{self.mode}, or a new --state file")
        if self.source != source:
            raise DataError(f"state file {path} was made watching {self.source}; use a new --state file for {source}")
