"""`jepawatch watch`: replay or tail a file with a live table of next-window risk and regime codes."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from jepawatch.allocator import reuse_freed_memory
from jepawatch.cli import output
from jepawatch.cli.scoring_options import ScoringOptions, scoring_options


@scoring_options
def watch(
    data: Annotated[str, typer.Argument(help="What to watch: a CSV (followed or replayed), a Parquet file or a benchmark folder (replayed), or a Prometheus server (http://HOST:9090 with -o query=PROMQL; followed).")],
    follow: Annotated[Optional[bool], typer.Option("--follow/--replay", help="--follow: tail the CSV (tail -F) and wait for new rows. --replay: play the file through at --speed. Default: follow a CSV modified in the last 10 s, replay anything else.", show_default=False)] = None,
    speed: Annotated[str, typer.Option("--speed", help="Replay pace: rows per second (200), a multiple of real time when the data has timestamps (60x), or max.")] = "max",
    state: Annotated[Optional[Path], typer.Option("--state", help="Record how far watching got (atomically); a restart resumes there, no window scored twice or skipped.")] = None,
    jsonl: Annotated[bool, typer.Option("--jsonl", help="Print one JSON object per window (the fields of `score`) instead of the live table.")] = False,
    poll: Annotated[float, typer.Option("--poll", help="Follow mode: seconds between checks for new rows.")] = 0.05,
    stop_after_idle: Annotated[Optional[float], typer.Option("--stop-after-idle", help="Stop after this many seconds without new rows (follow mode waits forever by default).")] = None,
    metrics_port: Annotated[Optional[int], typer.Option("--metrics-port", help="Serve Prometheus metrics (risk, alert, windows, last window time) on 127.0.0.1:PORT/metrics, e.g. 9108.")] = None,
    threads: Annotated[Optional[int], typer.Option("--threads", help="CPU threads for the model. Default: PyTorch's (all cores). On a machine busy with other work, 1 keeps watch responsive.")] = None,
    *,
    opts: ScoringOptions,
) -> None:
    """Replay or tail DATA, scoring each complete window as it arrives.

    Shows the model, the file, rows read, windows scored, alerts, malformed rows and rows per
    second, and a live table of the latest windows: end time, next-window risk (bar), alert
    marker, regime codes (patches | coarse), predicted next codes and the driving channels.
    When stdout is not a terminal it prints one plain line per window (--jsonl: JSON lines).

    Follow mode holds a partial last line until its newline arrives, detects truncation and
    rotation and reads the new data from its start, skips and counts malformed rows, and waits
    for a vanished file. Ctrl-C stops cleanly with a summary (exit 0).

    Alerts: --for/--clear open and close an alert with hysteresis; each firing or resolved event is
    shown, POSTed to --webhook and carried over restarts by --state; --metrics-port serves the risk
    to Prometheus.

    Many series in one file (--series-col host, or a series_id column): each is scored on its own
    as its rows arrive, and the table shows one row per series, the riskiest first.

    Exit codes: 0 ok (including Ctrl-C); 1 an error (one line on stderr); 2 a usage error; 75 another
    run holds the --state file's lock.
    """
    from jepawatch.app.score import open_scorer
    from jepawatch.app.transfer import adapt_for
    from jepawatch.app.watch import WatchRequest, open_watch
    from jepawatch.live.watch import StopFlag

    reuse_freed_memory()  # faster batches on glibc; the command owns its process (jepawatch.allocator)
    request = WatchRequest(data, follow, speed, state, opts.lock_wait, poll, stop_after_idle, threads, opts.adapter,
                           opts.read_options(), warn=output.warn, alerts=opts.alert_settings(metrics_port=metrics_port),
                           refit=opts.refit_schedule())

    def load_scorer():  # after the request's own checks
        adapted = adapt_for(data, opts.model, opts.models_dir, opts.adapt, opts.adapt_rows, adapter=opts.adapter,
                            options=request.options, device=opts.device, warn=output.warn, notify=output.note)
        return open_scorer(adapted.model, opts.models_dir, opts.device, opts.score_settings(first_row=adapted.first_row))

    with open_watch(load_scorer, request) as session:
        sink = output.watch_sink(session.stats, jsonl)
        with StopFlag() as stop:
            session.run(sink, stop)
