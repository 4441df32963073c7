"""`jepawatch score`: batch scoring for cron and pipelines."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from jepawatch.allocator import reuse_freed_memory
from jepawatch.cli import output
from jepawatch.cli.scoring_options import ScoringOptions, scoring_options
from jepawatch.scoring.settings import DEFAULT_BATCH_SIZE

ALERT_EXIT_CODE = 3


@scoring_options
def score(
    data: Annotated[str, typer.Argument(help="A CSV or Parquet file, a benchmark folder (its test part), or a Prometheus server (http://HOST:9090 with -o query=PROMQL).")],
    out: Annotated[Optional[Path], typer.Option("--out", help="Write the rows to FILE.jsonl, .csv or .parquet (atomically; with --state, .jsonl and .csv are appended to). Default: a table, or JSON lines when stdout is not a terminal.")] = None,
    state: Annotated[Optional[Path], typer.Option("--state", help="State file for incremental runs: score only windows not scored before; with --out, append to it.")] = None,
    fail_on_alert: Annotated[bool, typer.Option("--fail-on-alert", help=f"Exit with code {ALERT_EXIT_CODE} when a window scored in this run alerts.")] = False,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Windows per forward pass.")] = DEFAULT_BATCH_SIZE,
    prom_textfile: Annotated[Optional[Path], typer.Option("--prom-textfile", help="Write Prometheus metrics (risk, alert, windows, last window time) to this node_exporter textfile, atomically.")] = None,
    *,
    opts: ScoringOptions,
) -> None:
    """Score DATA window by window: next-window risk and alert, regime codes, driving channels.

    Each complete window that has a complete predecessor is scored (the first window is context
    only). The input is streamed, so memory does not grow with its length.

    Exit codes: 0 ok; 1 an error (one line on stderr); 2 a usage error; 3 with --fail-on-alert,
    when a window scored in this run alerts; 75 another run holds the --state file's lock.

    Many series in one table (--series-col host, or a series_id column): each is scored on its own
    with this bundle, in time order; rows carry `series`, and --state keeps a cursor per series.

    Another system (channels the bundle was not trained on): --adapt NORMAL_DATA, or --adapt-rows N
    for the first N rows of DATA (then not scored), fits its standardisation and calibration first.

    Alerts: --for/--clear open and close an alert with hysteresis; each firing or resolved event is
    printed in one line on stderr, POSTed to --webhook, and carried over runs by --state.

    Normal behaviour that moves (a new operating point, a wandering level): --refit-every N refits
    the label-free reference on the newest rows every N windows (see `jepawatch refit`).
    """
    from jepawatch.app import score as app
    from jepawatch.app.common import as_data
    from jepawatch.app.transfer import adapt_for
    from jepawatch.cli.render import show_scores

    reuse_freed_memory()  # faster batches on glibc; the command owns its process (jepawatch.allocator)
    data = as_data(data)  # a path, or a server's URL as it is
    app.check_paths(data, out, state)
    adapted = adapt_for(data, opts.model, opts.models_dir, opts.adapt, opts.adapt_rows, adapter=opts.adapter,
                        device=opts.device, warn=output.warn, options=opts.read_options(), notify=output.note)
    scorer = app.open_scorer(adapted.model, opts.models_dir, opts.device,
                             opts.score_settings(batch_size=batch_size, first_row=adapted.first_row))
    rows = app.score(scorer, data, adapter=opts.adapter, options=opts.read_options(), out=out, state=state,
                     lock_wait=opts.lock_wait, warn=output.warn, notify=output.note,
                     alerts=opts.alert_settings(prom_textfile=prom_textfile), refit=opts.refit_schedule(),
                     emit=lambda batch: show_scores(batch, scorer.alert_at, scorer.risk_source))
    alerts = sum(r["alert"] for r in rows)
    output.note(f"scored {len(rows)} window(s) with {scorer.bundle.name} on {scorer.backend.provider} ({scorer.risk_source} "
                f"risk, alert at {scorer.alert_at:.3g}): {alerts} alert(s)" + (f"; wrote {out}" if out else ""))
    notices = [r["notice"] for r in rows if r.get("notice")]
    if notices:
        output.warn(f"{len(notices)} window(s) under the notice: {notices[-1]}")
    if fail_on_alert and alerts:
        raise typer.Exit(ALERT_EXIT_CODE)
