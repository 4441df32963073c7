"""`--refit-every N` on `score` and `watch`: the label-free reference refitted on the newest rows every
N scored windows, while scoring goes on (`scoring.refit` says what a refit reads, leaves out and
refuses).

`RefittingCursor` stands in for a `ScoringCursor`: it keeps the newest rows (the cursor's own
preprocessed rows, `ScoringCursor.last_values`), scores each batch in pieces of at most N windows, and after every N windows
refits on those rows with the operators' verdicts of the feedback file, writes the outcome into the
bundle (atomically, recorded in its refits.json) and scores the next windows with it. A refit the
guard refuses changes nothing and is tried again N windows later; too few rows yet (a refit needs
`MIN_REFIT_WINDOWS` + `MARGIN_WINDOWS` windows) wait for more. The count of windows since the last
refit is kept in the state, so a cron run continues it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np

from jepawatch.adapters import Series
from jepawatch.errors import ConfigError, DataError
from jepawatch.scoring import refit as refitting
from jepawatch.scoring.scorer import ScoringCursor

REFIT_WINDOWS = 100  # the newest rows a scheduled refit reads, in windows (the "How much history" table: 3,000+ rows)


@dataclass(frozen=True)
class RefitSchedule:
    every: int  # scored windows between refits
    rows: int | None = None  # the newest rows a refit reads (default: REFIT_WINDOWS windows)
    feedback: Path | None = None  # a `jepawatch feedback` file (default: beside the state)
    series: str | None = None  # the series name verdicts are matched against

    def beside(self, state: Path | None) -> "RefitSchedule":
        """The schedule reading the feedback file beside `state` when it names none."""
        if self.feedback is not None or state is None:
            return self
        from jepawatch.feedback import feedback_path

        return replace(self, feedback=feedback_path(state))

    def check(self) -> None:
        if self.every < 1:
            raise ConfigError(f"--refit-every {self.every}: give a number of windows, 1 or more (e.g. 20)")
        if self.rows is not None and self.rows < 1:
            raise ConfigError(f"--refit-rows {self.rows}: give a number of rows, 1 or more")


class RefittingCursor:
    """A ScoringCursor that refits the reference on its newest rows every `schedule.every` windows."""

    def __init__(self, cursor: ScoringCursor, schedule: RefitSchedule, windows_since: int = 0,
                 notify: Callable[[str], None] = lambda line: None, warn: Callable[[str], None] = lambda m: None,
                 source: str = "data"):
        schedule.check()
        self.cursor, self.schedule, self.notify, self.warn, self.source = cursor, schedule, notify, warn, source
        self.scorer = cursor.scorer
        self.keep = schedule.rows or REFIT_WINDOWS * self.scorer.window
        self.recent = np.zeros((0, len(self.scorer.channels)), dtype=np.float32)
        self.times: np.ndarray | None = None
        self.first_row = cursor.context.rows_read  # stream row of recent[0]
        try:
            self.windows_since = int(windows_since)
        except (TypeError, ValueError):
            raise DataError("the state file's count of windows since the last refit is damaged; delete the state "
                            "file to start over") from None
        self.records: list[dict] = []  # this run's refits, applied or refused

    @property
    def context(self):
        return self.cursor.context

    def start_after_gap(self) -> None:
        self.cursor.start_after_gap()

    def push(self, batch: Series) -> list[dict]:
        rows = []
        piece_rows = max(1, self.schedule.every * self.scorer.stride)
        for start in range(0, batch.n_steps, piece_rows):
            scored = self.cursor.push(batch.slice(start, start + piece_rows))
            self._remember(self.cursor.last_values, self.cursor.last_stamps)
            rows.extend(scored)
            self.windows_since += len(scored)
            if self.windows_since >= self.schedule.every:
                self._refit()
        return rows

    def _remember(self, values: np.ndarray, stamps: np.ndarray | None) -> None:
        """Keep the rows the cursor just read (preprocessed and filled as it scored them), the newest `keep`."""
        self.recent = np.concatenate([self.recent, values])
        if stamps is not None:
            self.times = stamps if self.times is None else np.concatenate([self.times, stamps])
        drop = max(0, len(self.recent) - self.keep)
        if drop:
            self.recent, self.first_row = self.recent[drop:], self.first_row + drop
            self.times = None if self.times is None else self.times[drop:]

    def _refit(self) -> None:
        from jepawatch.feedback import read_feedback

        window = self.scorer.window
        if len(self.recent) < (refitting.MIN_REFIT_WINDOWS + refitting.MARGIN_WINDOWS) * window:
            return  # too few rows yet: the next piece tries again
        verdicts = read_feedback(self.schedule.feedback)
        recent = refitting.RecentData(self.recent, self.first_row, self.times, None,
                                      source=f"the newest {len(self.recent)} rows of {self.source}",
                                      **refitting.marked_rows(verdicts, self.first_row, len(self.recent), self.times,
                                                              self.schedule.series))
        self.windows_since = 0
        try:
            result = refitting.refit_calibration(self.scorer, recent, warn=self.warn)
        except DataError as exc:
            self.notify(f"refit skipped: {exc}")
            return
        refitting.write(self.scorer.bundle, result)
        if result.applied:
            refitting.apply(self.scorer, result.risk)
        self.records.append(result.record)
        self.notify(refitting.describe(result.record))
