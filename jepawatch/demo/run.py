"""`jepawatch demo`: generate, train a small MTS-JEPA on the normal part, replay the rest live, sum up.

The demo's model is the paper's architecture at a small size so that it trains in well under a
minute on 2 CPU cores (window 40 = 4 patches of 10 rows, D = 64, K = 32, one encoder layer).
Every other setting is the paper's, except the batch-level entropy weight (1.0, not 0.01):
with the paper's weight the codes of this small model collapse to one or two (see SPEC §10 and
issue 7), and the regime column would say nothing.

The summary counts an anomaly as warned when an alert was raised on a window that ended before
the anomaly began and whose alert run reaches the window that contains the onset (the evaluation
protocol's rule, `evaluation.metrics.lead_times`); the lead time runs from the end of the first
window of that run to the onset.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from jepawatch.demo.generator import make_demo_data
from jepawatch.evaluation.metrics import lead_times

DEMO_CONFIG = [
    "model.window=40", "model.n_patches=4", "model.d_model=64", "model.codebook_size=32",
    "model.encoder_layers=1", "model.encoder_heads=4", "model.predictor_layers=1", "model.predictor_heads=4",
    "model.predictor_hidden=64", "model.tokenizer_channels=16", "model.decoder_hidden=64",
    "model.lambda_ent_batch=1.0", "train.batch_size=128",
]
DEMO_EPOCHS = 12
MINUTES_PER_ROW = 1


@dataclass
class DemoFiles:
    train: Path
    live: Path


def write_demo_files(directory: Path, seed: int = 0) -> DemoFiles:
    """demo_train.csv (normal operation) and demo_live.csv (what follows, with a label column)."""
    from jepawatch.atomic import atomic_write

    data = make_demo_data(seed=seed)
    directory.mkdir(parents=True, exist_ok=True)
    files = DemoFiles(directory / "demo_train.csv", directory / "demo_live.csv")
    atomic_write(files.train, lambda p: data.train.to_csv(p, index=False))
    atomic_write(files.live, lambda p: data.live.to_csv(p, index=False))
    return files


@dataclass
class DemoSummary:
    anomalies: int
    warned: int
    mean_lead_minutes: float
    alerts: int
    false_alarms: int  # alerts on windows whose next window was normal
    alerted_during: int  # anomalies with an alert raised on a window that overlaps them

    def lines(self) -> list[str]:
        lead = f"{self.mean_lead_minutes:.0f} min" if self.warned else "n/a"
        return [
            f"anomalies in the replayed part: {self.anomalies}",
            f"warned before they began: {self.warned} of {self.anomalies} (mean lead time {lead})",
            f"alerted while under way (not early): {self.alerted_during} of {self.anomalies}",
            f"alerts: {self.alerts}, of which {self.false_alarms} before a normal window (false alarms)",
        ]


def summarise(rows: list[dict], labels: np.ndarray, window: int) -> DemoSummary:
    """rows: the scored windows (stride = window) of the live part; labels: its (T,) 0/1 labels."""
    starts = np.asarray([r["window_start"] for r in rows], dtype=np.int64)
    alerts = np.asarray([bool(r["alert"]) for r in rows])
    if len(starts) == 0:
        return DemoSummary(0, 0, float("nan"), 0, 0, 0)
    first_target = int(starts[0]) // window + 1  # the alert on W_t is about W_{t+1}
    n_targets = len(labels) // window
    targets = np.asarray([labels[(first_target + i) * window:(first_target + i + 1) * window].any()
                          for i in range(len(rows))]) if len(rows) else np.zeros(0, bool)
    usable = (first_target + np.arange(len(rows))) < n_targets
    leads = lead_times(labels, window, first_target, alerts[usable], targets[usable])
    false_alarms = int((alerts[usable] & ~targets[usable]).sum())
    alerted_during = 0
    for first, last in _segments(labels):
        overlapping = (starts <= last) & (starts + window - 1 >= first)
        alerted_during += bool(alerts[overlapping].any())
    return DemoSummary(leads["segments"], leads["warned"], leads["mean_lead_steps"] * MINUTES_PER_ROW,
                       int(alerts.sum()), false_alarms, alerted_during)


def _segments(labels: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) row of each run of 1s."""
    edges = np.diff(np.concatenate([[0], labels.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1))
