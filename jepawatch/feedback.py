"""Operator feedback: a verdict on an alert or a stretch of data, kept beside the state as JSON lines.

A `false_alarm` verdict says the stretch was normal: its windows join the normal reference at the
next refit. An `incident` verdict says it was not: its windows are kept out of that reference.
Verdicts are plain data in a file of their own (`STATE.feedback.jsonl`), one JSON object a line,
only ever appended to; they never go into a bundle's weights.

A verdict's stretch is either rows (`start`/`end` are row numbers, as a scored row's
`window_start`/`window_end`) or times (ISO date-times, as its `start_time`/`end_time`; a time
without a zone is UTC), both ends inclusive. `windows_marked` says which windows a stretch covers.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from jepawatch.atomic import ensure_dir
from jepawatch.errors import ConfigError, DataError

VERDICTS = ("false_alarm", "incident")
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


@dataclass(frozen=True)
class Verdict:
    verdict: str  # false_alarm | incident
    start: str  # a row number ("1200") or an ISO date-time ("2026-01-05T10:00:00"), as `end`
    end: str
    series: str | None = None  # the series it is about (a long-format table); None: any
    note: str = ""
    recorded_at: str = ""  # RFC 3339 UTC
    alert: str | None = None  # the alert's fingerprint, when the verdict was given on an alert

    def __post_init__(self):
        for name in ("start", "end"):  # a row number given as an int is its text
            value = getattr(self, name)
            if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
                object.__setattr__(self, name, str(int(value)))
        if self.verdict not in VERDICTS:
            raise ConfigError(f"verdict {self.verdict!r}: give one of {', '.join(VERDICTS)}")
        start, end = bound(self.start), bound(self.end)
        if isinstance(start, int) != isinstance(end, int):
            raise ConfigError(f"from {self.start} to {self.end}: give two row numbers or two ISO date-times, "
                              "not one of each")
        if start > end:
            raise ConfigError(f"from {self.start} to {self.end}: the start is after the end; swap them")

    @property
    def by_rows(self) -> bool:
        """The stretch is rows (else times)."""
        return isinstance(bound(self.start), int)

    def to_dict(self) -> dict:
        return asdict(self)


def bound(text: str) -> int | datetime:
    """One end of a verdict's stretch: a row number (digits), or an ISO date-time as aware UTC."""
    text = str(text).strip()
    if text.isdigit():
        return int(text)
    moment = parse_time(text)
    if moment is None:
        raise ConfigError(f"{text!r} is neither a row number nor an ISO date-time (e.g. 1200 or 2026-01-05T10:00:00)")
    return moment


def parse_time(text: object) -> datetime | None:
    """An ISO date-time (YYYY-MM-DD...) as aware UTC (naive times are UTC); None for anything else."""
    if isinstance(text, datetime):
        return text.replace(tzinfo=timezone.utc) if text.tzinfo is None else text.astimezone(timezone.utc)
    if not isinstance(text, str) or "-" not in text[:5]:  # digits alone are a row, not a date
        return None
    try:
        moment = datetime.fromisoformat(text.strip())
    except (ValueError, OverflowError):
        return None
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def feedback_path(state: Path) -> Path:
    """The feedback file beside a `--state` file: STATE.feedback.jsonl."""
    state = Path(state)
    return state.with_name(state.name + ".feedback.jsonl")


def feedback_file_of(path: Path) -> Path:
    """The feedback file `--feedback PATH` names: PATH itself when it ends in .jsonl, else the file beside
    the state file PATH; a ConfigError when there is none."""
    path = Path(path)
    file = path if path.suffix.lower() == ".jsonl" else feedback_path(path)
    if not file.is_file():
        raise ConfigError(f"no feedback file {file}; record verdicts with `jepawatch feedback STATE --false-alarm` "
                          "(or --incident), then give that state file or its .feedback.jsonl")
    return file


def record_feedback(path: Path, verdict: Verdict) -> None:
    """Append `verdict` as one JSON line to `path` (made if missing), flushed and fsynced; earlier
    lines are never rewritten."""
    path = Path(path)
    ensure_dir(path.parent)
    line = json.dumps(verdict.to_dict(), ensure_ascii=False) + "\n"
    with open(path, "a+b") as handle:
        handle.seek(0, os.SEEK_END)
        if handle.tell() > 0:
            handle.seek(-1, os.SEEK_END)
            if handle.read(1) != b"\n":  # a line cut short (a crash mid-write) stays a line of its own
                line = "\n" + line
        handle.write(line.encode("utf-8"))
        handle.flush()
        os.fsync(handle.fileno())


def read_feedback(path: Path | None) -> list[Verdict]:
    """The verdicts in `path`, oldest first; [] when there is no path or no file. A line that is not a
    verdict is a DataError naming the file and the line."""
    if path is None or not Path(path).exists():
        return []
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise DataError(f"feedback file {path} is not UTF-8 text; it holds one JSON verdict a line: "
                        "fix it or move it away") from None
    names = {f.name for f in fields(Verdict)}
    verdicts = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
            verdicts.append(Verdict(**{k: v for k, v in data.items() if k in names}))
        except (ValueError, TypeError, ConfigError) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise DataError(f"feedback file {path}, line {number}: not a verdict ({reason}); fix or delete that line "
                            "(one JSON object a line, as `jepawatch feedback` writes them)") from None
    return verdicts


def windows_marked(verdicts: Iterable[Verdict], kind: str, window_starts, window_ends, start_times=None, end_times=None,
                   series: str | None = None) -> np.ndarray:
    """(N,) bool: the windows that overlap the stretch of a verdict of `kind` (ends inclusive). Row
    verdicts are compared with `window_starts`/`window_ends` (row numbers), time verdicts with
    `start_times`/`end_times` (ISO text, datetimes or datetime64; a window without times is never
    marked by a time verdict). With `series`, a verdict about another series does not count."""
    if kind not in VERDICTS:
        raise ConfigError(f"verdict kind {kind!r}: give one of {', '.join(VERDICTS)}")
    starts = np.asarray(window_starts, dtype=np.int64).reshape(-1)
    ends = np.asarray(window_ends, dtype=np.int64).reshape(-1)
    marked = np.zeros(len(starts), dtype=bool)
    chosen = [v for v in verdicts if v.verdict == kind and (series is None or v.series is None or v.series == series)]
    timed = [v for v in chosen if not v.by_rows]
    for v in chosen:
        if v.by_rows:
            marked |= (starts <= int(v.end)) & (ends >= int(v.start))
    if timed and start_times is not None and end_times is not None:
        first = _seconds(start_times, len(starts))
        last = first if end_times is start_times else _seconds(end_times, len(starts))  # one time per row: parsed once
        for v in timed:
            lo, hi = _seconds_of(bound(v.start)), _seconds_of(bound(v.end))
            with np.errstate(invalid="ignore"):
                marked |= (first <= hi) & (last >= lo)  # NaN (no time) compares false
    return marked


def feedback_summary(verdicts: Sequence[Verdict], window_starts, window_ends, alerts=None, start_times=None,
                     end_times=None, series: str | None = None) -> dict:
    """Per verdict kind: how many verdicts, how many of these windows they cover, and how many of
    those windows alert (`alerts`, (N,) bool; None: not known)."""
    summary = {}
    for kind in VERDICTS:
        marked = windows_marked(verdicts, kind, window_starts, window_ends, start_times, end_times, series)
        summary[kind] = {"verdicts": sum(v.verdict == kind for v in verdicts), "windows": int(marked.sum()),
                         "alerted": None if alerts is None else int((np.asarray(alerts, dtype=bool) & marked).sum())}
    return summary


def _seconds_of(moment: datetime) -> float:
    return (moment - _EPOCH).total_seconds()


def _seconds(times, n: int) -> np.ndarray:
    """(n,) seconds since the epoch (UTC) of each time; NaN where there is none or it is not a date."""
    array = np.asarray(times)
    if np.issubdtype(array.dtype, np.datetime64):
        seconds = array.astype("datetime64[us]").astype(np.int64) / 1e6
        return np.where(np.isnat(array), np.nan, seconds)
    out = np.full(n, np.nan)
    for i, value in enumerate(array.reshape(-1)[:n]):
        try:
            moment = parse_time(value)
            out[i] = np.nan if moment is None else _seconds_of(moment)
        except (ValueError, TypeError, OverflowError):  # pandas' NaT, an odd object: no time
            pass
    return out
