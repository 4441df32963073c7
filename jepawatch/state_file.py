"""A state file of `score --state` or `watch --state`: a dataclass as one JSON record with its format
name, read back (None when there is none yet), saved atomically, and checked against the model and
stride it was made with. `scoring/state.py` and `live/state.py` say what each one holds."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import ClassVar

from jepawatch.atomic import atomic_write_json, read_json_record
from jepawatch.errors import DataError


@dataclass
class StateFile:
    model: str  # bundle path
    weights_sha256: str
    stride: int
    FORMAT: ClassVar[str]  # the record's format name
    START_OVER: ClassVar[str]  # what a user does to start again, e.g. "delete it to watch from the beginning"

    @classmethod
    def load(cls, path: Path):
        data = read_json_record(path, cls.FORMAT, cls.START_OVER)
        if data is None:
            return None
        try:
            return cls(**data)
        except TypeError as exc:
            raise DataError(f"state file {path} is unreadable ({exc}); {cls.START_OVER}") from None

    def save(self, path: Path) -> None:
        atomic_write_json(path, asdict(self))

    def check_model(self, path: Path, weights_sha256: str, stride: int) -> None:
        """A DataError when the state was made by another model or with another stride."""
        if self.weights_sha256 != weights_sha256:
            raise DataError(f"state file {path} belongs to another model ({self.model}); "
                            "use a new --state file for this model, or delete it")
        if self.stride != stride:
            raise DataError(f"state file {path} was made with --stride {self.stride}; use that, or a new --state file")
