"""The state that makes `jepawatch score --state FILE` incremental across cron runs.

It records which model scored, the stride, the first row of the next window to score, how many
rows the input had, and how many rows the output holds. A run re-reads the input (streaming,
so memory stays flat), scores only windows from `next_start` on, writes the output, and only
then saves the state, atomically. A crash before the state is saved repeats that run's windows
next time, and the output is cut back to the saved row count first, so nothing is lost or
written twice.

A long-format table (`score --series-col`) keeps one cursor per series in `series` instead of
`next_start`; `rows_seen` is then the table's rows.

A live source (a Prometheus server, whose history moves on and is eventually deleted) is not read
again from its start: the state keeps where its feed got (`position`) and the scoring context
(`context`), as `watch --state` does, and a run reads on from there until it has caught up.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import ClassVar

from jepawatch.scoring.results import OutputBehind, OutputMark
from jepawatch.state_file import StateFile

STATE_FORMAT = "jepawatch-score-state/1"


@dataclass
class ScoreState(StateFile):
    FORMAT: ClassVar[str] = STATE_FORMAT
    START_OVER: ClassVar[str] = "delete it to start scoring from the beginning"

    next_start: int  # absolute row of the next window to score
    rows_seen: int  # input rows at the end of the last run
    out_rows: int = 0  # rows in --out after the last run
    format: str = STATE_FORMAT
    out_bytes: int | None = None  # size of a .jsonl/.csv --out after them (None: Parquet, or an older state)
    alerts: dict | None = None  # alerts.pipeline.Alerting.state(): an open alert and the window count
    series: dict | None = None  # a long-format table: series id -> scoring.fleet.SeriesCursor.to_dict()
    windows_since_refit: int = 0  # `--refit-every`: windows scored since the last refit (scoring.refit_schedule)
    moved: dict | None = None  # scoring.data_moved.DataMoved.to_dict(): the recent alerts, and since when the data moved
    position: dict | None = None  # a live source (a Prometheus server): where its adapter's feed got (Fed.position)
    context: dict | None = None  # ... and the scoring context the next window needs (as `watch --state` keeps)

    @property
    def out_mark(self) -> OutputMark:
        return OutputMark(self.out_rows, self.out_bytes)

    def rewound_to(self, behind: OutputBehind, stride: int) -> "ScoreState":
        """The state as if the last run had ended where the output does (the state got ahead of it:
        an interrupted or overlapping run). 0 as `next_start` means the first window."""
        next_start = 0 if behind.last_start is None else behind.last_start + stride
        return replace(self, next_start=next_start, out_rows=behind.mark.rows, out_bytes=behind.mark.bytes)

    def check(self, path: Path, weights_sha256: str, stride: int) -> None:
        self.check_model(path, weights_sha256, stride)
