"""`tail -F` for a growing text file: complete lines only, truncation and rotation detected, and
the rows written to a rotated-away file found and read, also when the rotation came while nothing
watched.

What real log files do, and what this does about it:

- A partial last line (the writer is mid-row) is held until its newline arrives.
- Truncation in place (logrotate's copytruncate): the file is shorter than what was read, or the
  bytes just before the read position changed (it was truncated and has already grown past that
  position again). The copy logrotate made (`NAME.1`, found by its content at the read position)
  is read from there to its end first, so the rows written between the last read and the copy
  are not lost; then the file is read again from its start.
- Rotation (the file renamed, a new one created at the path): the old file is read to its end
  through the open handle first, so nothing written before the rename is lost, then the new file
  is read from its start. An unterminated last line of the rotated file is dropped and counted.
- The path vanishing: the old file is drained, then the path is waited for.
- A restart whose saved position is no longer the file at the path (rotated, either way, while
  nothing watched): the saved file is looked for beside the path, by its inode (a rename) or by
  its content at the saved position (a copy, or a compressed generation: gzip, bzip2, xz), among
  the files logrotate names `NAME.1`, `NAME.2.gz`, `NAME-20261204`; what follows the saved position
  there is read, then every newer rotated generation in full, then the file at the path. Where the
  saved file is nowhere to be found, the next chunk says it follows a gap (`after_gap`): the
  caller must not join the rows on either side of it into one window.

`FilePosition` is what a restart needs: which file (device, inode), how many bytes of complete
lines were consumed, the last bytes consumed (to recognise the same content), and the header.
Every chunk of lines says whether it starts a file, so the caller knows a header may come first.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import re
import zlib
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path
from stat import S_ISREG
from typing import BinaryIO

from jepawatch.errors import DataError

SIGNATURE_BYTES = 64
MAX_READ_BYTES = 4 * 1024 * 1024  # per poll, so a long backlog is read in bounded pieces
ROTATED_SUFFIX = r"[.-]\d[\w.-]*"  # logrotate's NAME.1, NAME.2.gz, NAME-20261204(.gz) after the file's name
UNREADABLE = (OSError, EOFError, lzma.LZMAError, zlib.error)  # a damaged compressed file (gzip's BadGzipFile is an OSError)
DECOMPRESSORS = ((b"\x1f\x8b", gzip.open), (b"BZh", bz2.open), (b"\xfd7zXZ\x00", lzma.open))


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
    after_gap: bool = False  # rows were written before these that no file here holds any more


@dataclass
class PollResult:
    chunks: list[LineChunk] = field(default_factory=list)
    events: list[str] = field(default_factory=list)  # what happened to the file, for the operator
    dropped_partial: int = 0  # unterminated last lines of rotated files
    more: bool = False  # more bytes are already waiting: poll again without sleeping
    waiting: bool = False  # the path does not exist
    gap: bool = False  # found in this poll: rows were written that no file here holds any more


class OpenFile:
    """One file being read: its handle (plain, or decompressing a rotated generation), how far
    reading got, the unterminated line held back and the header."""

    def __init__(self, handle: BinaryIO, identity: tuple[int, int], name: str, raw: BinaryIO | None = None):
        self.handle, self.identity, self.name = handle, identity, name
        self.raw = raw  # the compressed file under a decompressing handle, else None
        self.offset = 0  # bytes of complete lines consumed
        self.pending = b""  # an unterminated last line
        self.tail = b""  # the last consumed bytes
        self.header: str | None = None
        self.starts_file = True
        self.damaged = False  # a compressed generation that could not be read to its end

    @property
    def position(self) -> FilePosition:
        return FilePosition(self.identity[0], self.identity[1], self.offset, self.tail.hex(), self.header)

    @property
    def compressed(self) -> bool:
        return self.raw is not None

    def close(self) -> None:
        self.handle.close()
        if self.raw is not None:
            self.raw.close()

    def restart(self) -> None:
        self.offset, self.pending, self.tail, self.header, self.starts_file = 0, b"", b"", None, True
        self.handle.seek(0)

    def content_matches(self, offset: int, signature: bytes) -> bool:
        """The bytes just before `offset` are `signature` (a plain file; read without moving)."""
        size = os.fstat(self.handle.fileno()).st_size
        if size < offset:
            return False
        return os.pread(self.handle.fileno(), len(signature), offset - len(signature)) == signature

    def resume_at(self, position: FilePosition) -> bool:
        """Go on from `position` when this file holds its content there; False (and moved anywhere) if not."""
        signature = bytes.fromhex(position.signature)
        if self.compressed:  # no random access: read up to the offset, keeping the last bytes
            left, last = position.offset, b""
            try:
                while left > 0:
                    piece = self.handle.read(min(left, MAX_READ_BYTES))
                    if not piece:
                        return False
                    left -= len(piece)
                    last = (last + piece)[-SIGNATURE_BYTES:]
            except UNREADABLE:
                return False
            if not last.endswith(signature):
                return False
        elif not self.content_matches(position.offset, signature):
            return False
        else:
            self.handle.seek(position.offset)
        self.offset, self.tail, self.header, self.starts_file = position.offset, signature, position.header, False
        return True

    def read(self, result: PollResult, after_gap: bool = False) -> bool:
        """The complete lines of the next piece into `result` (their chunk marked `after_gap`);
        whether a chunk was added."""
        try:
            data = self.handle.read(MAX_READ_BYTES)
        except UNREADABLE as error:  # a damaged compressed generation: what it held from here is lost
            result.events.append(f"{self.name} could not be read to its end ({error}); going on without the rest")
            self.damaged, data = True, b""
        result.more = len(data) == MAX_READ_BYTES
        if not data:
            return False
        buffer = self.pending + data
        cut = buffer.rfind(b"\n") + 1
        complete, self.pending = buffer[:cut], buffer[cut:]
        if not complete:
            return False
        self.offset += len(complete)
        self.tail = (self.tail + complete)[-SIGNATURE_BYTES:]
        lines = [line[:-1] if line.endswith(b"\r") else line for line in complete.split(b"\n")[:-1]]
        result.chunks.append(LineChunk(lines, self.starts_file, after_gap))
        self.starts_file = False
        return True

    def drop_partial(self, result: PollResult, what: str) -> None:
        """A file read to its end for good: its unterminated last line is dropped and counted."""
        if self.pending:
            result.dropped_partial += 1
            result.events.append(f"dropped the unterminated last line of {what}")
            self.pending = b""


def open_rotated(path: Path) -> OpenFile | None:
    """A rotated generation for reading, decompressed when it is gzip, bzip2 or xz; None if unreadable."""
    try:
        handle = open(path, "rb")
    except OSError:
        return None
    stat = os.fstat(handle.fileno())
    if not S_ISREG(stat.st_mode):
        handle.close()
        return None
    magic = handle.read(6)
    handle.seek(0)
    for prefix, opener in DECOMPRESSORS:
        if magic.startswith(prefix):
            return OpenFile(opener(handle), (stat.st_dev, stat.st_ino), path.name, raw=handle)
    return OpenFile(handle, (stat.st_dev, stat.st_ino), path.name)


class FollowedFile:
    def __init__(self, path: Path, position: FilePosition | None = None):
        self.path = Path(path)
        self.current: OpenFile | None = None  # the file at the path
        self.backlog: deque[OpenFile] = deque()  # rotated-away files to read first, oldest first
        self.gap = False  # the next chunk follows rows no file here holds any more
        self._resume = position
        self._reported_missing = False

    @property
    def reading(self) -> OpenFile | None:
        """The file read now: the oldest rotated-away one still to finish, else the one at the path."""
        return self.backlog[0] if self.backlog else self.current

    @property
    def position(self) -> FilePosition | None:
        return None if self.reading is None else self.reading.position

    @property
    def header(self) -> str | None:
        return None if self.reading is None else self.reading.header

    @header.setter
    def header(self, value: str | None) -> None:
        if self.reading is not None:
            self.reading.header = value

    def close(self) -> None:
        for file in [*self.backlog, *([self.current] if self.current else [])]:
            file.close()
        self.backlog.clear()
        self.current = None

    def poll(self) -> PollResult:
        result = PollResult()
        if self.current is None and not self._open(result):
            return result
        if self.backlog:
            self._read_backlog(result)
            return result
        if self._was_truncated():
            self._truncated(result)
            if self.backlog:
                return result
        self._read(self.current, result)
        if result.more:
            return result
        current = _identity(self.path)
        if current != self.current.identity:  # renamed away, replaced or deleted: drain the old file, then switch
            self._drain(result)
            self.current.close()
            self.current = None
            if current is None:
                result.events.append(f"{self.path} vanished; waiting for it to reappear")
                self._reported_missing = True
                result.waiting = True
            else:
                result.events.append(f"{self.path} was rotated; reading the new file from its start")
                if self._open(result):
                    self._read(self.current, result)
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
        self.current = OpenFile(os.fdopen(fd, "rb"), (stat.st_dev, stat.st_ino), self.path.name)
        resume, self._resume = self._resume, None
        if resume is not None and not ((resume.device, resume.inode) == self.current.identity
                                       and self.current.resume_at(resume)):
            self.current.restart()
            self._find_the_rest(resume, result)
        return True

    def _find_the_rest(self, resume: FilePosition, result: PollResult) -> None:
        """A restart whose saved file is no longer at the path: read the rest of it from where it was
        rotated to, or mark the gap."""
        found = self._rotated_away(resume)
        self.backlog.extend(found)
        if found:
            then = "".join(f", then {file.name}" for file in found[1:])
            result.events.append(f"{self.path} was rotated while nothing watched it; reading the rest of "
                                 f"{found[0].name} from where watching stopped{then}, then the new {self.path.name}")
        else:
            self.gap = result.gap = True
            result.events.append(f"{self.path} was rotated or rewritten while nothing watched it, and the rows "
                                 "written after where watching stopped are in no file beside it (deleted, or "
                                 "compressed or moved elsewhere); reading it from its start, after a gap")

    def _truncated(self, result: PollResult) -> None:
        """Truncated in place: what followed the last read row is in logrotate's copy, if one is here."""
        found = self._rotated_away(self.current.position)
        for later in found[1:]:  # newer generations are copies made before this one: read already
            later.close()
        found = found[:1]
        self.current.restart()
        self.backlog.extend(found)
        result.events.append(f"{self.path} was truncated; " + (
            f"reading what followed the last row read from its copy {found[0].name}, then {self.path.name} from its start"
            if found else "reading it from its start"))

    def _read_backlog(self, result: PollResult) -> None:
        file = self.backlog[0]
        self._read(file, result)
        if result.more or result.chunks:  # finished only when a read finds nothing more (the caller
            result.more = True  # sets the header of the file whose chunk it handles: this one)
            return
        file.drop_partial(result, f"the rotated {file.name}")
        if file.damaged:
            self.gap = result.gap = True
        file.close()
        self.backlog.popleft()
        result.more = True  # go on at once with the next file

    def _rotated_away(self, saved: FilePosition) -> list[OpenFile]:
        """The file `saved` was taken from, found beside the path (by its inode, else by its content at
        the saved offset) and positioned there, followed by the newer rotated generations from their
        starts; [] when it is nowhere here."""
        pattern = re.compile(re.escape(self.path.name) + ROTATED_SUFFIX)
        here = self.current.identity if self.current else None
        candidates = []
        try:
            entries = list(os.scandir(self.path.parent))
        except OSError:
            return []
        for entry in entries:
            try:
                stat = entry.stat()
            except OSError:
                continue
            identity = (stat.st_dev, stat.st_ino)
            same = identity == (saved.device, saved.inode)
            if S_ISREG(stat.st_mode) and identity != here and entry.name != self.path.name and (same or pattern.fullmatch(entry.name)):
                candidates.append((not same, -stat.st_mtime_ns, entry.name, identity))
        candidates.sort()
        for not_same, minus_mtime, name, identity in candidates:
            if not_same and saved.offset == 0:
                continue  # nothing was read from it: nothing to recognise it by
            file = open_rotated(self.path.parent / name)
            if file is None:
                continue
            try:
                found = file.resume_at(saved)
            except Exception:  # anything a damaged file raises: not the saved one
                found = False
            if found:
                newer = sorted((-m, n) for _, m, n, i in candidates if -m > -minus_mtime and i != identity)
                later = [open_rotated(self.path.parent / n) for _, n in newer]
                return [file, *(f for f in later if f is not None)]
            file.close()
        return []

    def _was_truncated(self) -> bool:
        return self.current.offset > 0 and not self.current.content_matches(self.current.offset, self.current.tail)

    def _read(self, file: OpenFile, result: PollResult) -> None:
        if self.gap and result.chunks:  # rows after a gap come in a poll of their own: the position
            result.more = True  # saved with the rows before it must not be past the gap
            return
        if file.read(result, after_gap=self.gap):
            self.gap = False

    def _drain(self, result: PollResult) -> None:
        while True:
            self._read(self.current, result)
            if not result.more:
                break
        self.current.drop_partial(result, f"the old {self.path.name}")


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        return None
    return stat.st_dev, stat.st_ino
