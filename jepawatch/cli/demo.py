"""`jepawatch demo`: the whole product in one command, offline, on CPU, in about a minute."""

from __future__ import annotations

import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Optional

import typer

from jepawatch.cli import output
from jepawatch.cli.options import DeviceOption


def demo(
    out: Annotated[Path, typer.Option("--out", help="Directory for the generated data (data/) and the trained bundle (models/).")] = Path("jepawatch-demo"),
    speed: Annotated[str, typer.Option("--speed", help="Replay pace: rows per second, or max.")] = "300",
    epochs: Annotated[Optional[int], typer.Option("--epochs", help="Training epochs of the small demo model.")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the generated data and of training.")] = 0,
    device: DeviceOption = None,
) -> None:
    """Generate a web-service series with anomalies, train a small MTS-JEPA on its normal part,
    replay the rest in the live table, and sum up: anomalies present, how many were warned
    before they began, and the mean lead time.

    The data has eight correlated channels with daily and hourly seasonality and noise, and
    anomalies of both kinds the paper targets (short spikes, slow drifts), each preceded by a
    weak precursor. The files stay in OUT/data for `jepawatch train` and `watch` by hand; the
    report of the replayed part (`jepawatch report`) is written to OUT/report.html.
    """
    from jepawatch.adapters import ReadOptions
    from jepawatch.bundle import load_bundle
    from jepawatch.cli.progress import RichReporter
    from jepawatch.configuration import resolve_config
    from jepawatch.demo.run import DEMO_CONFIG, DEMO_EPOCHS, summarise, write_demo_files
    from jepawatch.live.display import WatchStats
    from jepawatch.live.sources import ReplaySource, parse_speed
    from jepawatch.live.watch import LiveTableSink, PlainLinesSink, StateKeeper, StopFlag, run_watch
    from jepawatch.report.build import write_demo_report
    from jepawatch.scoring.scorer import Scorer, ScoringCursor, StreamContext
    from jepawatch.training.job import TrainRequest, resolve_device
    from jepawatch.training.job import train as run_training
    from jepawatch.training.summary import closing_line
    from rich.markup import escape

    import pandas as pd

    pace = parse_speed(speed)
    files = write_demo_files(out / "data", seed)
    output.stderr.print(f"wrote {files.train} (normal operation) and {files.live} (with anomalies and labels)", highlight=False)
    run = resolve_config("mts-jepa", overrides=DEMO_CONFIG,
                         flags={"train": {"epochs": epochs or DEMO_EPOCHS, "seed": seed, "device": device}})
    started = time.monotonic()
    path = run_training(TrainRequest(data=files.train, run=run, out_dir=out / "models", name="demo"),
                        reporter=RichReporter(output.stderr), warn=output.warn)
    output.stderr.print(f"[green]done[/]: {escape(closing_line(path, time.monotonic() - started))}", highlight=False)
    output.stderr.print(f"replaying {files.live.name} at {pace}", highlight=False)

    scorer = Scorer(load_bundle(path), resolve_device(device or "auto"))
    bundle = scorer.bundle
    options = replace(ReadOptions(), columns=tuple(bundle.preprocess.channels))
    source = ReplaySource(files.live, None, options, pace)
    stats = WatchStats(bundle.name, str(files.live), f"replay, {pace}", scorer.alert_at, scorer.risk_source)
    inner = LiveTableSink(output.stdout, stats) if sys.stdout.isatty() else PlainLinesSink()
    sink = _Collecting(inner)
    with StopFlag() as stop:
        reason = run_watch(source, ScoringCursor(scorer, StreamContext.start(scorer.window, len(scorer.channels), None)),
                           stats, sink, StateKeeper(None, None), stop)
    labels = pd.read_csv(files.live, usecols=["label"])["label"].to_numpy()[: stats.rows_read]
    summary = summarise(sink.rows, labels, scorer.window)
    output.stdout.print("[bold]demo summary[/]" + (f" ({reason})" if reason != "finished" else ""))
    for line in summary.lines():
        output.stdout.print(f"  {line}", highlight=False)
    output.stdout.print(f"  try it by hand: jepawatch watch {files.live} --models-dir {out / 'models'} --speed 300",
                        highlight=False, soft_wrap=True)
    report = write_demo_report(files.live, path, out / "report.html", output.warn)
    if report is not None:
        output.stdout.print(f"  report: {report} (open it in a browser)", highlight=False, soft_wrap=True)


class _Collecting:
    """Passes everything to the display and keeps the scored rows for the summary."""

    def __init__(self, inner):
        self.inner = inner
        self.rows: list[dict] = []

    def windows(self, rows: list[dict]) -> None:
        self.rows.extend(rows)
        self.inner.windows(rows)

    def event(self, message: str) -> None:
        self.inner.event(message)

    def close(self, stats, reason: str) -> None:
        self.inner.close(stats, reason)
