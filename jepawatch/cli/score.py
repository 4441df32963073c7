"""`jepawatch score`: batch scoring for cron and pipelines."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from jepawatch.cli import output
from jepawatch.cli.options import (
    AdapterOption,
    AdapterSettingOption,
    BackendOption,
    DeviceOption,
    LabelColOption,
    LockWaitOption,
    ModelOption,
    ModelsDirOption,
    TimestampColOption,
    read_options,
)

ALERT_EXIT_CODE = 3


def score(
    data: Annotated[Path, typer.Argument(help="A CSV or Parquet file, or a benchmark folder (its test part).")],
    model: ModelOption = None,
    models_dir: ModelsDirOption = Path("models"),
    out: Annotated[Optional[Path], typer.Option("--out", help="Write the rows to FILE.jsonl, .csv or .parquet (atomically; with --state, .jsonl and .csv are appended to). Default: a table, or JSON lines when stdout is not a terminal.")] = None,
    state: Annotated[Optional[Path], typer.Option("--state", help="State file for incremental runs: score only windows not scored before; with --out, append to it.")] = None,
    fail_on_alert: Annotated[bool, typer.Option("--fail-on-alert", help=f"Exit with code {ALERT_EXIT_CODE} when a window scored in this run alerts.")] = False,
    stride: Annotated[Optional[int], typer.Option("--stride", help="Rows between scored windows. Default: the window length.")] = None,
    alert_at: Annotated[Optional[float], typer.Option("--alert-at", help="Alert when next_window_risk >= this. Default: the bundle's threshold.")] = None,
    top_channels: Annotated[int, typer.Option("--top-channels", help="How many driving channels to name per window.")] = 3,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Windows per forward pass.")] = 64,
    lock_wait: LockWaitOption = 10.0,
    backend: BackendOption = None,
    device: DeviceOption = None,
    adapter: AdapterOption = None,
    label_col: LabelColOption = None,
    timestamp_col: TimestampColOption = None,
    adapter_option: AdapterSettingOption = None,
) -> None:
    """Score DATA window by window: next-window risk and alert, regime codes, driving channels.

    Each complete window that has a complete predecessor is scored (the first window is context
    only). The input is streamed, so memory does not grow with its length.

    Exit codes: 0 ok; 1 an error (one line on stderr); 2 a usage error; 3 with --fail-on-alert,
    when a window scored in this run alerts; 75 another run holds the --state file's lock.
    """
    from jepawatch.adapters import iter_batches
    from jepawatch.adapters.quality import ReadTally
    from jepawatch.atomic import remove_stale_temporaries
    from jepawatch.errors import ConfigError, DataError
    from jepawatch.locking import state_lock
    from jepawatch.scoring.results import append_results, check_output_path, output_behind, write_results
    from jepawatch.scoring.scorer import Scorer, ScoreSettings
    from jepawatch.scoring.state import ScoreState

    if out is not None:
        check_output_path(out, data, state)
    if state is not None and data.exists() and state.exists() and state.resolve() == data.resolve():
        raise ConfigError(f"--state {state} is the input; give the state its own file")
    scorer = Scorer.load(model, models_dir, device, ScoreSettings(stride, alert_at, top_channels, batch_size, backend))
    bundle = scorer.bundle
    with state_lock(state, lock_wait):
        if state is not None:  # under the lock, what an earlier run killed mid-write left is stale
            for leftover in (state, out):
                if leftover is not None:
                    remove_stale_temporaries(leftover)
        previous = ScoreState.load(state) if state is not None else None
        if previous is not None:
            previous.check(state, bundle.meta["weights_sha256"], scorer.stride)
            behind = output_behind(out, previous.out_mark) if out is not None else None
            if behind is not None:
                output.warn(f"{out} holds {behind.mark.rows} row(s) but the state says {previous.out_rows} (an interrupted "
                            "or overlapping run); scoring again from the window after its last row")
                previous = previous.rewound_to(behind, scorer.stride)
        options = replace(read_options(label_col, timestamp_col, adapter_option), columns=tuple(bundle.preprocess.channels))

        rows_seen = 0
        tally = ReadTally(str(data))

        def counted(batches):
            nonlocal rows_seen
            for batch in batches:
                rows_seen += batch.n_steps
                tally.add(batch)
                yield batch

        rows = []
        for chunk in scorer.stream(counted(iter_batches(data, adapter, options)), previous.next_start if previous else None):
            rows.extend(chunk)
        if previous is not None and rows_seen < previous.rows_seen:
            raise DataError(f"{data} has {rows_seen} rows but {previous.rows_seen} were seen before: the file was replaced "
                            f"or truncated; delete {state} to score it from the beginning")

        if tally.warning():
            output.warn(tally.warning())
        mark = previous.out_mark if previous is not None else None
        if out is not None:
            mark = append_results(out, rows, mark) if previous is not None else write_results(out, rows)
        else:
            _print(rows, scorer)
        if state is not None:
            ScoreState(str(bundle.path), bundle.meta["weights_sha256"], scorer.stride, scorer.next_start, rows_seen,
                       mark.rows if mark else 0, out_bytes=mark.bytes if mark else None).save(state)
    alerts = sum(r["alert"] for r in rows)
    output.stderr.print(f"scored {len(rows)} window(s) with {bundle.name} on {scorer.backend.provider} ({scorer.risk_source} risk, alert at "
                        f"{scorer.alert_at:.3g}): {alerts} alert(s)" + (f"; wrote {out}" if out else ""), highlight=False)
    if fail_on_alert and alerts:
        raise typer.Exit(ALERT_EXIT_CODE)


def _print(rows: list[dict], scorer) -> None:
    if not sys.stdout.isatty():
        for row in rows:
            sys.stdout.write(json.dumps(row) + "\n")
        return
    table = Table(show_header=True, header_style="bold")
    for column in ("window", "risk", "alert", "regime", "next", "drivers"):
        table.add_column(column, overflow="fold")
    for row in rows:
        where = f"{row['start_time']} .. {row['end_time']}" if row["start_time"] else f"{row['window_start']}..{row['window_end']}"
        table.add_row(where, f"{row['next_window_risk']:.3f}", "[bold red]ALERT[/]" if row["alert"] else "",
                      f"{row['regime']} | {row['coarse_regime']}", row["next_regime"], row["drivers"])
    output.stdout.print(table)
