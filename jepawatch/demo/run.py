"""`jepawatch demo`: generate, train a small MTS-JEPA on the normal part, replay the rest live, sum up.

The demo's model is the paper's architecture at a small size so that it trains in well under a
minute on 2 CPU cores (window 40 = 4 patches of 10 rows, D = 64, K = 32, one encoder layer).
Every other setting is the paper's, except the batch-level entropy weight (1.0, not 0.01):
with the paper's weight the codes of this small model collapse to one or two (docs/method.md: "Known problem
of --preset paper"; issue 7), and the regime column would say nothing.

The replay scores a window every patch (10 rows), as a live monitor that wants early warning
should: the last window scored before an incident then ends at most a patch before it, where a
precursor is strongest (scored a window at a time, the demo warned of 3 of its 8 anomalies,
every patch 8 of 8, no false alarm; 2026-12-04, BENCHMARKS.md "The demo, a window every patch").
The summary counts an anomaly as warned when the last window that ended before it began alerted
(`evaluation.events.scored_events`, the evaluation's rule at any stride); the lead time runs from
the end of the first window of that alert run to the onset.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from jepawatch.demo.generator import make_demo_data
from jepawatch.evaluation.events import scored_events

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
    false_alarms: int  # alerts on normal windows followed by a normal one (evaluation.events)
    alerted_during: int  # anomalies with an alert raised on a window that overlaps them
    detected: int = 0  # warned of or alerted on while under way

    def lines(self) -> list[str]:
        lead = f"{self.mean_lead_minutes:.0f} min" if self.warned else "n/a"
        return [
            f"anomalies in the replayed part: {self.anomalies}",
            f"detected (warned of, or alerted on while under way): {self.detected} of {self.anomalies}",
            f"warned before they began: {self.warned} of {self.anomalies} (mean lead time {lead})",
            f"alerted while under way (not early): {self.alerted_during} of {self.anomalies}",
            f"alerts: {self.alerts}, of which {self.false_alarms} false alarms (on a normal window before a normal one; alerts within 5 windows before an anomaly announce it)",
        ]


def demo_stride(bundle) -> int:
    """Rows between the replay's scored windows: a patch."""
    return int(bundle.run.model.patch_len)


def summarise(rows: list[dict], labels: np.ndarray, window: int) -> DemoSummary:
    """rows: the scored windows (any stride) of the live part; labels: its (T,) 0/1 labels."""
    if not rows:
        return DemoSummary(0, 0, float("nan"), 0, 0, 0)
    events = scored_events(labels, window, np.asarray([int(r["window_end"]) for r in rows]),
                           np.asarray([bool(r["alert"]) for r in rows]))
    return DemoSummary(events.anomalies, events.warned, events.mean_lead_steps * MINUTES_PER_ROW, events.alerts,
                       events.false_alarms, events.alerted_during, events.detected)
