"""What a report shows, gathered from a bundle and a data file; no plotting here.

The data is read once (the bundle's channels only), scored with the bundle's defaults (a window
every window length, as `score` does), and kept whole: a report is made of a finished file.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from jepawatch.adapters import ReadOptions, Series, iter_batches
from jepawatch.errors import DataError
from jepawatch.evaluation.events import EventSummary, scored_events
from jepawatch.live.layout import split_names
from jepawatch.report.alerts import AlertRun, alert_runs
from jepawatch.scoring.data_moved import DataMoved

CHANNELS_SHOWN = 3  # beneath the risk: the drivers of the top alerts


@dataclass
class ReportData:
    model: str
    source: str
    risk_source: str  # label-free | supervised
    alert_at: float
    window: int  # rows per window
    patch_len: int  # rows per patch
    codebook_size: int
    rows: list[dict]  # the scored windows (the fields of `score`)
    times: np.ndarray  # (T,) datetime64 when the data has dates, else the row index
    channels: list[str]  # the channels drawn beneath the risk
    values: np.ndarray  # (T, len(channels)) their raw values, NaN where missing
    labels: np.ndarray | None  # (T,) 0/1, or None when the data has no labels
    history: dict  # the bundle's history.json
    training_codes: np.ndarray | None  # (K,) share of each dominant code on the training windows
    alerts: list[AlertRun]
    events: EventSummary | None  # anomalies warned of, lead time, false alarms (with labels)
    verdicts: list = field(default_factory=list)  # operators' verdicts (`jepawatch.feedback.Verdict`), with --feedback
    feedback_file: str | None = None  # where they were read
    refits: list = field(default_factory=list)  # the bundle's refit history (`jepawatch refit`), newest last

    @property
    def has_dates(self) -> bool:
        return np.issubdtype(self.times.dtype, np.datetime64)

    def patch_codes(self) -> np.ndarray:
        """(N, P) the dominant code of each patch of each scored window."""
        return np.asarray([[int(c) for c in row["regime"].split()] for row in self.rows], dtype=np.int64)

    def window_labels(self) -> np.ndarray | None:
        """(N,) 1 where a labelled row lies in the scored window; None without labels."""
        if self.labels is None:
            return None
        return np.asarray([self.labels[r["window_start"]: r["window_end"] + 1].max() for r in self.rows], dtype=np.int64)


def gather(scorer, data: Path, adapter: str | None, options: ReadOptions) -> ReportData:
    """Read `data` with the bundle's channels, score it, and collect what the figures need."""
    bundle = scorer.bundle
    options = replace(options, columns=tuple(bundle.preprocess.channels))
    batches = list(iter_batches(data, adapter, options))
    series = Series.concat(batches) if len(batches) > 1 else batches[0] if batches else None
    if series is None or series.n_steps == 0:
        raise DataError(f"{data} has no rows to report on")
    rows = DataMoved().annotate([row for chunk in scorer.stream(iter(batches)) for row in chunk])  # as `score` shows them
    if not rows:
        raise DataError(f"{data} has {series.n_steps} rows: too few for a scored window (a window of {scorer.window} "
                        f"rows and its predecessor need {2 * scorer.window})")
    times = series.timestamps if series.timestamps is not None and np.issubdtype(series.timestamps.dtype, np.datetime64) \
        else np.arange(series.n_steps)
    labels = None if series.labels is None else np.asarray(series.labels, dtype=np.int64)
    shown = top_drivers(rows, CHANNELS_SHOWN)
    index = {name: j for j, name in enumerate(series.channels)}
    values = np.stack([series.values[:, index[name]] for name in shown], axis=1) if shown \
        else np.zeros((series.n_steps, 0), dtype=np.float32)
    cfg = bundle.run.model
    training = None
    if bundle.code_frequencies and "fine_pooled" in bundle.code_frequencies:
        counts = np.asarray(bundle.code_frequencies["fine_pooled"], dtype=np.float64)
        training = counts / counts.sum() if counts.sum() > 0 else None
    events = None
    if labels is not None and labels.any():
        events = scored_events(labels, scorer.window, np.asarray([r["window_end"] for r in rows]),
                               np.asarray([r["alert"] for r in rows]))
    return ReportData(
        model=bundle.name, source=str(data), risk_source=scorer.risk_source, alert_at=float(scorer.alert_at),
        window=scorer.window, patch_len=cfg.patch_len, codebook_size=cfg.codebook_size, rows=rows, times=times,
        channels=shown, values=values, labels=labels, history=bundle.history or {}, training_codes=training,
        alerts=alert_runs(rows, labels, scorer.window), events=events)


def top_drivers(rows: list[dict], k: int) -> list[str]:
    """The channels named most often (first driver counts most) on the alerted windows, or on the
    highest-risk tenth of the windows when nothing alerted."""
    chosen = [r for r in rows if r["alert"]]
    if not chosen:
        chosen = sorted(rows, key=lambda r: -r["next_window_risk"])[: max(1, len(rows) // 10)]
    votes: Counter = Counter()
    for row in chosen:
        names = split_names(row["drivers"])
        for rank, name in enumerate(names):
            votes[name] += len(names) - rank
    return [name for name, _ in votes.most_common(k)]
