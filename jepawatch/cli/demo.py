"""`jepawatch demo`: the whole product in one command, offline, on CPU, in about a minute."""

from __future__ import annotations

import time
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
    from jepawatch.app.demo import replay_demo, train_demo, write_files
    from jepawatch.cli.progress import RichReporter
    from jepawatch.live.sources import parse_speed
    from jepawatch.live.watch import StopFlag
    from jepawatch.report.build import write_demo_report
    from jepawatch.training.summary import closing_line
    from rich.markup import escape

    pace = parse_speed(speed)
    files = write_files(out, seed)
    output.stderr.print(f"wrote {files.train} (normal operation) and {files.live} (with anomalies and labels)", highlight=False)
    started = time.monotonic()
    path = train_demo(files, out, epochs=epochs, seed=seed, device=device, reporter=RichReporter(output.stderr),
                      warn=output.warn)
    output.stderr.print(f"[green]done[/]: {escape(closing_line(path, time.monotonic() - started))}", highlight=False)
    output.stderr.print(f"replaying {files.live.name} at {pace}", highlight=False)
    with StopFlag() as stop:
        outcome = replay_demo(files, path, speed=speed, device=device, stop=stop,
                              sink_for=output.watch_sink)
    output.stdout.print("[bold]demo summary[/]" + (f" ({outcome.reason})" if outcome.reason != "finished" else ""))
    for line in outcome.summary.lines():
        output.stdout.print(f"  {line}", highlight=False)
    output.stdout.print(f"  try it by hand: jepawatch watch {files.live} --models-dir {out / 'models'} --speed 300 "
                        f"--stride {outcome.stride}", highlight=False, soft_wrap=True)
    report = write_demo_report(files.live, path, out / "report.html", output.warn, outcome.stride)
    if report is not None:
        output.stdout.print(f"  report: {report} (open it in a browser)", highlight=False, soft_wrap=True)
