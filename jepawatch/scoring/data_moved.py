"""Say "the data moved" once, instead of an alert every window (issue "Quiet under benign change").

When most of a series' recent windows alert (`MOVED_SHARE` of those scored in the last `LOOKBACK`
windows' rows, at any stride), the data has left the range its reference knows and stays out (a new
operating point, a wandering level): a shift, not an incident, which a refit settles. From then on
each row carries a `notice` ("data has left the training range since TIME; run `jepawatch refit`")
and its `alert` is cleared, unless the window is far out even against the windows around it (`JUMP`
times rarer than their median, beyond their spread: an incident on top of the shift still alerts).
The notice ends when at most one in `LOOKBACK` of them would alert (the data came back, or a
refit). The windows that alerted before the notice (the first of them is when the data moved) keep
their alerts.

The state (per series) is plain data, kept in the `--state` file so that a cron run continues it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from jepawatch.errors import DataError

LOOKBACK = 12  # windows
MOVED_SHARE = 0.5  # of them alerting: the data moved
JUMP = 1000.0  # while moved, a window alerts when it is this many times rarer than the recent windows' median
FAR_OUT = 3.0  # ... and beyond their own spread: the median + log(JUMP) + 3 IQR of their scores (Tukey's far out)
NOTICE = "data has left the training range since {since}; run `jepawatch refit` on recent normal data (or --refit-every)"


@dataclass
class MovedState:
    recent: list[list] = field(default_factory=list)  # [alerted, score, end time or row, start row] within LOOKBACK windows
    since: str | None = None  # when the data moved: the first alerting window of the lookback that said so

    def annotate(self, row: dict) -> dict:
        """The row as the operator sees it: with `notice`, and `alert` cleared while the data has moved
        (unless it is far out against the recent windows). The lookback is LOOKBACK windows' rows,
        whatever the stride: scored every patch, a short incident fills more scored windows, not more time."""
        alerted, score = bool(row["alert"]), float(row["label_free_score"])
        start, window = int(row["window_start"]), int(row["window_end"]) - int(row["window_start"]) + 1
        scores = sorted(entry[1] for entry in self.recent)
        far = None
        if len(scores) >= 4:  # the recent windows' median, 1,000 times rarer, beyond their own spread
            q1, median, q3 = (scores[int(q * (len(scores) - 1))] for q in (0.25, 0.5, 0.75))
            far = median + math.log(JUMP) + FAR_OUT * (q3 - q1)
        self.recent = [e for e in self.recent if e[3] > start - LOOKBACK * window]
        self.recent.append([alerted, score, row.get("end_time") or str(row["window_end"]), start])
        full = self.recent[0][3] <= start - (LOOKBACK - 1) * window  # the lookback spans LOOKBACK windows
        share = sum(entry[0] for entry in self.recent) / len(self.recent)
        if self.since is None and full and share >= MOVED_SHARE:
            self.since = next(str(entry[2]) for entry in self.recent if entry[0])
        elif self.since is not None and share <= 1 / LOOKBACK:
            self.since = None
        if self.since is None:
            return {**row, "notice": None}
        jump = far is not None and score >= far
        return {**row, "alert": alerted and jump, "notice": NOTICE.format(since=self.since)}

    def to_dict(self) -> dict:
        return {"recent": self.recent, "since": self.since}

    @classmethod
    def from_dict(cls, d: dict | None) -> "MovedState":
        if not d:
            return cls()
        recent = [[bool(a), float(s), str(t), int(w)] for a, s, t, w in d.get("recent", [])]
        return cls(recent, None if d.get("since") is None else str(d["since"]))


class DataMoved:
    """The moved state of each series a run scores (one, or each of a long-format table's)."""

    def __init__(self, saved: dict | None = None):
        try:
            self.states = {str(name): MovedState.from_dict(state) for name, state in (saved or {}).items()}
        except (TypeError, ValueError, KeyError, AttributeError):
            raise DataError("the state file's \"data moved\" record is damaged; delete the state file to start over") from None

    def annotate(self, rows: list[dict]) -> list[dict]:
        out = []
        for row in rows:
            name = str(row.get("series") or "")
            out.append(self.states.setdefault(name, MovedState()).annotate(row))
        return out

    def to_dict(self) -> dict:
        return {name: state.to_dict() for name, state in self.states.items()}
