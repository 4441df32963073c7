"""`demo`: generate the web-service series, train the demo's small MTS-JEPA on its normal part,
replay the rest through a sink, and sum up how many anomalies were warned of."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd

from jepawatch.adapters import ReadOptions
from jepawatch.app.common import Warn, warn_python
from jepawatch.app.train import train
from jepawatch.bundle import load_bundle
from jepawatch.demo.run import DEMO_CONFIG, DEMO_EPOCHS, DemoFiles, demo_stride, summarise, write_demo_files
from jepawatch.devices import resolve_device
from jepawatch.live.display import WatchStats
from jepawatch.live.sources import ReplaySource, parse_speed
from jepawatch.live.watch import Sink, StateKeeper, StopFlag, run_watch
from jepawatch.scoring.scorer import Scorer, ScoreSettings, ScoringCursor, StreamContext
from jepawatch.training.loop import Reporter


@dataclass
class DemoOutcome:
    files: DemoFiles
    bundle: Path
    reason: str  # why the replay ended ("finished" unless stopped)
    summary: object  # demo.run's summary: anomalies, warned, lead time (`.lines()`)
    stride: int  # rows between the replay's scored windows


def write_files(out: Path, seed: int = 0) -> DemoFiles:
    """The demo's data: OUT/data/demo_train.csv (normal operation) and demo_live.csv (anomalies, labels)."""
    return write_demo_files(Path(out) / "data", seed)


def train_demo(files: DemoFiles, out: Path, *, epochs: int | None = None, seed: int = 0, device: str | None = None,
               reporter: Reporter | None = None, warn: Warn = warn_python) -> Path:
    """The demo's small MTS-JEPA on the normal part, as OUT/models/demo; returns its path."""
    return train(files.train, settings=DEMO_CONFIG, epochs=epochs or DEMO_EPOCHS, seed=seed, device=device,
                 out=Path(out) / "models", name="demo", reporter=reporter, warn=warn)


def replay_demo(files: DemoFiles, bundle: Path, *, speed: str = "300", device: str | None = None,
                sink_for: Callable[[WatchStats], Sink] | None = None, stop: StopFlag | None = None) -> DemoOutcome:
    """Replay the live part through `sink_for(stats)` (nothing shown without one) and sum up."""
    pace = parse_speed(speed)
    loaded = load_bundle(bundle)
    scorer = Scorer(loaded, resolve_device(device), ScoreSettings(stride=demo_stride(loaded)))
    options = replace(ReadOptions(), columns=tuple(scorer.bundle.preprocess.channels))
    stats = WatchStats(scorer.bundle.name, str(files.live), f"replay, {pace}", scorer.alert_at, scorer.risk_source)
    sink = _Collecting(sink_for(stats) if sink_for is not None else None)
    cursor = ScoringCursor(scorer, StreamContext.start(scorer.window, len(scorer.channels), None))
    reason = run_watch(ReplaySource(files.live, None, options, pace), cursor, stats, sink, StateKeeper(None, None),
                       stop or StopFlag())  # the CLI passes one that Ctrl-C sets
    labels = pd.read_csv(files.live, usecols=["label"])["label"].to_numpy()[: stats.rows_read]
    return DemoOutcome(files, bundle, reason, summarise(sink.rows, labels, scorer.window), scorer.stride)


class _Collecting:
    """Passes everything to the display (if any) and keeps the scored rows for the summary."""

    def __init__(self, inner: Sink | None):
        self.inner = inner
        self.rows: list[dict] = []

    def windows(self, rows: list[dict]) -> None:
        self.rows.extend(rows)
        if self.inner is not None:
            self.inner.windows(rows)

    def event(self, message: str) -> None:
        if self.inner is not None:
            self.inner.event(message)

    def close(self, stats: WatchStats, reason: str) -> None:
        if self.inner is not None:
            self.inner.close(stats, reason)
