"""`jepawatch watch`: replay or tail a file with a live table of next-window risk and regime codes."""

from __future__ import annotations

import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Optional

import typer

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

RECENTLY_MODIFIED_SECONDS = 10.0


def watch(
    data: Annotated[Path, typer.Argument(help="The file to watch: a CSV (followed or replayed), a Parquet file or a benchmark folder (replayed).")],
    model: ModelOption = None,
    models_dir: ModelsDirOption = Path("models"),
    follow: Annotated[Optional[bool], typer.Option("--follow/--replay", help="--follow: tail the CSV (tail -F) and wait for new rows. --replay: play the file through at --speed. Default: follow a CSV modified in the last 10 s, replay anything else.", show_default=False)] = None,
    speed: Annotated[str, typer.Option("--speed", help="Replay pace: rows per second (200), a multiple of real time when the data has timestamps (60x), or max.")] = "max",
    state: Annotated[Optional[Path], typer.Option("--state", help="Record how far watching got (atomically); a restart resumes there, no window scored twice or skipped.")] = None,
    lock_wait: LockWaitOption = 10.0,
    jsonl: Annotated[bool, typer.Option("--jsonl", help="Print one JSON object per window (the fields of `score`) instead of the live table.")] = False,
    stride: Annotated[Optional[int], typer.Option("--stride", help="Rows between scored windows. Default: the window length.")] = None,
    alert_at: Annotated[Optional[float], typer.Option("--alert-at", help="Alert when next_window_risk >= this. Default: the bundle's threshold.")] = None,
    top_channels: Annotated[int, typer.Option("--top-channels", help="How many driving channels to name per window.")] = 3,
    poll: Annotated[float, typer.Option("--poll", help="Follow mode: seconds between checks for new rows.")] = 0.05,
    stop_after_idle: Annotated[Optional[float], typer.Option("--stop-after-idle", help="Stop after this many seconds without new rows (follow mode waits forever by default).")] = None,
    threads: Annotated[Optional[int], typer.Option("--threads", help="CPU threads for the model. Default: PyTorch's (all cores). On a machine busy with other work, 1 keeps watch responsive.")] = None,
    backend: BackendOption = None,
    device: DeviceOption = None,
    adapter: AdapterOption = None,
    label_col: LabelColOption = None,
    timestamp_col: TimestampColOption = None,
    adapter_option: AdapterSettingOption = None,
) -> None:
    """Replay or tail DATA, scoring each complete window as it arrives.

    Shows the model, the file, rows read, windows scored, alerts, malformed rows and rows per
    second, and a live table of the latest windows: end time, next-window risk (bar), alert
    marker, regime codes (patches | coarse), predicted next codes and the driving channels.
    When stdout is not a terminal it prints one plain line per window (--jsonl: JSON lines).

    Follow mode holds a partial last line until its newline arrives, detects truncation and
    rotation and reads the new data from its start, skips and counts malformed rows, and waits
    for a vanished file. Ctrl-C stops cleanly with a summary (exit 0).

    Exit codes: 0 ok (including Ctrl-C); 1 an error (one line on stderr); 2 a usage error; 75 another
    run holds the --state file's lock.
    """
    from jepawatch.adapters.files import missing_path_problem
    from jepawatch.atomic import remove_stale_temporaries
    from jepawatch.errors import ConfigError
    from jepawatch.live.display import WatchStats
    from jepawatch.live.follow import FilePosition
    from jepawatch.live.sources import FollowSource, ReplaySource, parse_speed
    from jepawatch.live.state import WatchState
    from jepawatch.live.watch import JsonLinesSink, LiveTableSink, PlainLinesSink, StateKeeper, StopFlag, run_watch
    from jepawatch.locking import state_lock
    from jepawatch.scoring.scorer import Scorer, ScoreSettings, ScoringCursor, StreamContext

    pace = parse_speed(speed)
    if poll <= 0:
        raise ConfigError("--poll must be positive")
    if threads is not None:
        if threads < 1:
            raise ConfigError("--threads must be at least 1")
        import torch

        torch.set_num_threads(threads)
    following = _follows(data) if follow is None else follow
    if following and not _is_plain_csv(data):
        raise ConfigError(f"{data}: only a plain CSV file can be followed; use --replay")
    problem = missing_path_problem(data)
    if problem is not None and (data.is_symlink() or not following):
        raise ConfigError(problem if data.is_symlink() else f"{data} does not exist (use --follow to wait for it)")
    if following and problem is None and not data.is_file():
        raise ConfigError(f"{data} is not a regular file (a FIFO or a device?); watch --follow tails a regular file")
    scorer = Scorer.load(model, models_dir, device, ScoreSettings(stride, alert_at, top_channels, 64, backend))
    bundle = scorer.bundle
    mode = "follow" if following else "replay"
    source_path = str(data.resolve())
    with state_lock(state, lock_wait):  # held while watching: one watcher per state file
        if state is not None:
            remove_stale_temporaries(state)  # left by a run killed mid-write; stale under the lock
        previous = WatchState.load(state) if state is not None else None
        if previous is not None:
            previous.check(state, bundle.meta["weights_sha256"], scorer.stride, mode, source_path)
            try:
                context = StreamContext.from_dict(previous.context, len(scorer.channels))
            except (KeyError, TypeError, ValueError):
                raise ConfigError(f"state file {state} is damaged; delete it to watch from the beginning") from None
        else:
            context = StreamContext.start(scorer.window, len(scorer.channels), None)

        if following:
            position = FilePosition.from_dict(previous.position) if previous is not None else None
            source = FollowSource(data, bundle.preprocess.channels, timestamp_col, poll, position)
            source.check_header()
            shown_mode = "follow"
        else:
            options = replace(read_options(label_col, timestamp_col, adapter_option), columns=tuple(bundle.preprocess.channels))
            skip = int(previous.position.get("rows", 0)) if previous is not None else 0
            source = ReplaySource(data, adapter, options, pace, skip_rows=skip)
            shown_mode = f"replay, {pace}"

        stats = WatchStats(bundle.name, str(data), shown_mode, scorer.alert_at, scorer.risk_source)
        stats.rows_read = context.rows_read
        if previous is not None:
            stats.windows = int(previous.totals.get("windows", 0))
            stats.alerts = int(previous.totals.get("alerts", 0))
            stats.malformed = int(previous.totals.get("malformed", 0))
        template = WatchState(str(Path(bundle.path).resolve()), bundle.meta["weights_sha256"], scorer.stride, mode, source_path, {}, {})
        keeper = StateKeeper(state, template)
        if jsonl:
            sink = JsonLinesSink()
        elif not sys.stdout.isatty():
            sink = PlainLinesSink()
        else:
            sink = LiveTableSink(output.stdout, stats)

        start = (f"{'following' if following else 'replaying'} {data} with {bundle.name} on {scorer.backend.provider}"
                 + (f", resuming at row {context.rows_read:,}" if previous is not None else ""))
        with StopFlag() as stop:
            run_watch(source, ScoringCursor(scorer, context), stats, sink, keeper, stop, stop_after_idle, str(data), start)


def _is_plain_csv(path: Path) -> bool:
    return path.suffix.lower() in (".csv", ".txt", ".tsv", ".log", "") and not path.is_dir()


def _follows(path: Path) -> bool:
    """Follow a CSV that is still being written (modified in the last few seconds); replay the rest."""
    if not path.is_file() or not _is_plain_csv(path):
        return False
    return time.time() - path.stat().st_mtime < RECENTLY_MODIFIED_SECONDS
