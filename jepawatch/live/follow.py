"""`tail -F` for a growing text file: complete lines only, truncation and rotation detected.

What real log files do, and what this does about it:

- A partial last line (the writer is mid-row) is held until its newline arrives.
- Truncation in place (logrotate's copytruncate): the file is shorter than what was read, or the
  bytes just before the read position changed (it was truncated and has already grown past that
  position again). The file is read again from its start.
- Rotation (the file renamed, a new one created at the path): the old file is read to its end
  through the open handle first, so nothing written before the rename is lost, then the new file
  is read from its start. An unterminated last line of the rotated file is dropped and counted.
- The path vanishing: the old file is drained, then the path is waited for.

`FilePosition` is what a restart needs: which file (device, inode), how many bytes of complete
lines were consumed, the last bytes consumed (to recognise the same content), and the header.
Every chunk of lines says whether it starts a file, so the caller knows a header may come first.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from stat import S_ISREG

from jepawatch.errors import DataError

SIGNATURE_BYTES = 64
MAX_READ_BYTES = 4 * 1024 * 1024  # per poll, so a long backlog is read in bounded pieces


@dataclass
class FilePosition:
    device: int
    inode: int
    offset: int  # bytes of complete lines consumed
    signature: str  # hex of the last <= SIGNATURE_BYTES consumed bytes
    header: str | None = None  # the header line of this file, once read

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "FilePosition":
        return cls(int(d["device"]), int(d["inode"]), int(d["offset"]), str(d["signature"]), d.get("header"))


@dataclass
class LineChunk:
    lines: list[bytes]  # complete lines without their line ending
    starts_file: bool  # the first line is the first line of a file (maybe a header)


@dataclass
class PollResult:
    chunks: list[LineChunk] = field(default_factory=list)
    events: list[str] = field(default_factory=list)  # what happened to the file, for the operator
    dropped_partial: int = 0  # unterminated last lines of rotated files
    more: bool = False  # more bytes are already waiting: poll again without sleeping
    waiting: bool = False  # the path does not exist


class FollowedFile:
    def __init__(self, path: Path, position: FilePosition | None = None):
        self.path = Path(path)
        self.handle = None
        self.identity: tuple[int, int] | None = None
        self.offset = 0
        self.pending = b""  # an unterminated last line
        self.tail = b""  # the last consumed bytes
        self.header: str | None = None
        self.starts_file = True
        self._resume = position
        self._reported_missing = False

    @property
    def position(self) -> FilePosition | None:
        if self.identity is None:
            return None
        return FilePosition(self.identity[0], self.identity[1], self.offset, self.tail.hex(), self.header)

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()
            self.handle = None

    def poll(self) -> PollResult:
        result = PollResult()
        if self.handle is None and not self._open(result):
            return result
        if self._was_truncated():
            result.events.append(f"{self.path} was truncated; reading it from its start")
            self._restart_file()
        self._read(result)
        if result.more:
            return result
        current = _identity(self.path)
        if current != self.identity:  # renamed away, replaced or deleted: drain the old file, then switch
            self._drain(result)
            self.close()
            self.identity = None
            if current is None:
                result.events.append(f"{self.path} vanished; waiting for it to reappear")
                self._reported_missing = True
                result.waiting = True
            else:
                result.events.append(f"{self.path} was rotated; reading the new file from its start")
                if self._open(result):
                    self._read(result)
        return result

    # --- internals -----------------------------------------------------------------------------

    def _open(self, result: PollResult) -> bool:
        try:
            # O_NONBLOCK: a FIFO put at the path would block an open() until a writer came
            fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)
        except FileNotFoundError:
            if not self._reported_missing:
                result.events.append(f"waiting for {self.path} to appear")
                self._reported_missing = True
            result.waiting = True
            return False
        if self._reported_missing and self._resume is None:
            result.events.append(f"{self.path} appeared")
        self._reported_missing = False
        stat = os.fstat(fd)
        if not S_ISREG(stat.st_mode):
            os.close(fd)
            raise DataError(f"{self.path} is not a regular file (a FIFO or a device?); watch --follow tails a regular file")
        handle = os.fdopen(fd, "rb")
        self.handle, self.identity = handle, (stat.st_dev, stat.st_ino)
        self._restart_file()
        resume, self._resume = self._resume, None
        if resume is not None:
            if (resume.device, resume.inode) == self.identity and self._content_matches(resume.offset, bytes.fromhex(resume.signature)):
                self.offset, self.tail, self.header, self.starts_file = resume.offset, bytes.fromhex(resume.signature), resume.header, False
                self.handle.seek(self.offset)
            else:
                result.events.append(f"{self.path} is not the file the state was saved from (rotated or rewritten "
                                     "meanwhile); reading it from its start")
        return True

    def _restart_file(self) -> None:
        self.offset, self.pending, self.tail, self.header, self.starts_file = 0, b"", b"", None, True
        self.handle.seek(0)

    def _content_matches(self, offset: int, signature: bytes) -> bool:
        size = os.fstat(self.handle.fileno()).st_size
        if size < offset:
            return False
        return os.pread(self.handle.fileno(), len(signature), offset - len(signature)) == signature

    def _was_truncated(self) -> bool:
        return self.offset > 0 and not self._content_matches(self.offset, self.tail)

    def _read(self, result: PollResult) -> None:
        data = self.handle.read(MAX_READ_BYTES)
        result.more = len(data) == MAX_READ_BYTES
        if not data:
            return
        buffer = self.pending + data
        cut = buffer.rfind(b"\n") + 1
        complete, self.pending = buffer[:cut], buffer[cut:]
        if not complete:
            return
        self.offset += len(complete)
        self.tail = (self.tail + complete)[-SIGNATURE_BYTES:]
        lines = [line[:-1] if line.endswith(b"\r") else line for line in complete.split(b"\n")[:-1]]
        result.chunks.append(LineChunk(lines, self.starts_file))
        self.starts_file = False

    def _drain(self, result: PollResult) -> None:
        while True:
            self._read(result)
            if not result.more:
                break
        if self.pending:
            result.dropped_partial += 1
            result.events.append(f"dropped the unterminated last line of the old {self.path.name}")
            self.pending = b""


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        return None
    return stat.st_dev, stat.st_ino
