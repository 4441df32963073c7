"""`watch`: a file replayed at a pace or followed as it grows (tail -F), scored window by window.

`open_watch` checks the request, takes the state's lock, resumes from a saved state and builds the
source; the session it yields is run into a sink (the CLI's live table) or iterated row by row
(the Python API).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

from jepawatch.adapters import AUTO, ReadOptions, url_scheme
from jepawatch.adapters.registry import as_source, follows
from jepawatch.adapters.files import missing_path_problem
from jepawatch.alerts.pipeline import AlertSettings, Alerting, series_name
from jepawatch.atomic import remove_stale_temporaries
from jepawatch.errors import ConfigError, DataError
from jepawatch.live.display import WatchStats
from jepawatch.live.follow import FilePosition
from jepawatch.live.sources import AdapterSource, FollowSource, ReplaySource, parse_speed
from jepawatch.live.state import WatchState
from jepawatch.live.watch import Sink, StateKeeper, StopFlag, run_watch, watch_windows
from jepawatch.locking import state_lock
from jepawatch.scoring.data_moved import DataMoved
from jepawatch.scoring.fleet import FleetCursor, resume_cursor
from jepawatch.scoring.refit_schedule import RefitSchedule, RefittingCursor
from jepawatch.scoring.scorer import Scorer, ScoringCursor

RECENTLY_MODIFIED_SECONDS = 10.0


@dataclass
class WatchRequest:
    data: Path | str  # a file, or a server's URL
    follow: bool | None = None  # None: follow a server, or a CSV modified in the last 10 s; replay anything else
    speed: str = "max"  # rows per second, a multiple of real time (60x), or max
    state: Path | None = None
    lock_wait: float = 10.0
    poll: float = 0.05  # follow mode: seconds between checks for new rows
    stop_after_idle: float | None = None
    threads: int | None = None  # CPU threads for the model (torch.set_num_threads)
    adapter: str | None = None
    options: ReadOptions = field(default_factory=ReadOptions)
    warn: Callable[[str], None] = lambda message: None  # how alert delivery problems are said
    alerts: AlertSettings | None = None  # hysteresis, webhook, metrics endpoint (jepawatch.alerts)
    refit: RefitSchedule | None = None  # `--refit-every`: the reference refitted on the newest rows while watching


@dataclass
class WatchSession:
    """A watch ready to run: its source, the scoring cursor, the totals and the state keeper."""

    request: WatchRequest
    scorer: Scorer
    following: bool
    source: FollowSource | AdapterSource | ReplaySource
    cursor: ScoringCursor | FleetCursor | RefittingCursor
    stats: WatchStats
    keeper: StateKeeper
    start_message: str
    alerting: Alerting | None = None

    def run(self, sink: Sink, stop: StopFlag) -> str:
        """Show everything in `sink` until the source ends or `stop` is set; returns why it ended."""
        return run_watch(self.source, self.cursor, self.stats, sink, self.keeper, stop, self.request.stop_after_idle,
                         str(self.request.data), self.start_message, self.alerting)

    def windows(self, stop: StopFlag | None = None) -> Iterator[list[dict]]:
        """The rows of each tick's new windows, as they come."""
        return watch_windows(self.source, self.cursor, self.stats, self.keeper, stop or StopFlag(),
                             self.request.stop_after_idle, str(self.request.data), alerting=self.alerting)


@contextmanager
def open_watch(load_scorer: Callable[[], Scorer], request: WatchRequest) -> Iterator[WatchSession]:
    """Check `request`, load the scorer, hold the state's lock (one watcher per state file) and yield
    the session. The scorer is loaded after the request's own checks, so a bad option is said first."""
    data, state = as_source(request.data), request.state
    live = url_scheme(data) is not None or follows(data, request.adapter)  # a server, or an adapter that follows
    pace = parse_speed(request.speed)
    if request.alerts is not None:
        request.alerts.check()
    if request.refit is not None:
        request.refit.check()
    if request.poll <= 0:
        raise ConfigError("--poll must be positive")
    if request.threads is not None:
        if request.threads < 1:
            raise ConfigError("--threads must be at least 1")
        import torch

        torch.set_num_threads(request.threads)
    if live:  # a server: followed by its adapter, or replayed over the range its options give
        following = True if request.follow is None else request.follow
        if following and not follows(data, request.adapter):
            raise ConfigError(f"{data}: its adapter cannot follow it live; use --replay")
    else:
        following = _follows(data) if request.follow is None else request.follow
        _check_file(data, following)
    scorer = load_scorer()
    bundle = scorer.bundle
    mode = "follow" if following else "replay"
    source_path = str(data) if live else str(data.resolve())
    with state_lock(state, request.lock_wait):
        if state is not None:
            remove_stale_temporaries(state)  # left by a run killed mid-write; stale under the lock
        previous = WatchState.load(state) if state is not None else None
        if previous is not None:
            previous.check(state, bundle.meta["weights_sha256"], scorer.stride, mode, source_path)
        series_column = request.options.series_column
        source: FollowSource | AdapterSource | ReplaySource
        if following and live:
            options = replace(request.options, columns=tuple(bundle.preprocess.channels))
            source = AdapterSource(data, request.adapter, options, previous.position if previous is not None else None)
            shown_mode = "follow"
        elif following:
            position = FilePosition.from_dict(previous.position) if previous is not None else None
            source = FollowSource(data, bundle.preprocess.channels, request.options.timestamp_column, request.poll, position,
                                  series_column=_follow_series_column(series_column))
            source.check_header()
            shown_mode = "follow"
        else:
            options = replace(request.options, columns=tuple(bundle.preprocess.channels),
                              series_column=AUTO if series_column is None else series_column)
            skip = int(previous.position.get("rows", 0)) if previous is not None else 0
            source = ReplaySource(data, request.adapter, options, pace, skip_rows=skip)
            shown_mode = f"replay, {pace}"
        long_format = source.long_format
        cursor = _cursor(scorer, previous, long_format, state)
        if request.refit is not None:
            if long_format:
                raise ConfigError("--refit-every refits one series' reference; a long-format file shares one bundle "
                                  "across its series: leave --refit-every out")
            since = previous.totals.get("windows_since_refit", 0) if previous is not None else 0
            cursor = RefittingCursor(cursor, request.refit.beside(state), since, request.warn, request.warn, str(data))

        stats = WatchStats(bundle.name, str(data), shown_mode, scorer.alert_at, scorer.risk_source)
        stats.rows_read = cursor.context.rows_read
        if previous is not None:
            try:
                for name in ("windows", "alerts", "malformed", "gaps", "rows_lost", "gaps_uncounted"):
                    setattr(stats, name, int(previous.totals.get(name, 0)))
            except (AttributeError, TypeError, ValueError):
                raise DataError(f"state file {state} has damaged totals; {WatchState.START_OVER}") from None
        template = WatchState(str(Path(bundle.path).resolve()), bundle.meta["weights_sha256"], scorer.stride, mode,
                              source_path, {}, {})
        start = (f"{'following' if following else 'replaying'} {data} with {bundle.name} on {scorer.backend.provider}"
                 + (", each series on its own (long format)" if long_format else "")
                 + (f", resuming at row {cursor.context.rows_read:,}" if previous is not None else ""))
        alerting = None
        if request.alerts is not None and request.alerts.active:
            alerting = Alerting(request.alerts, series_name(data), bundle.name, previous.alerts if previous else None,
                                request.warn, state, fleet=long_format)
        try:
            yield WatchSession(request, scorer, following, source, cursor, stats,
                               StateKeeper(state, template, alerting=alerting,
                                           moved=DataMoved(previous.totals.get("moved") if previous else None)),
                               start, alerting)
        finally:
            if alerting is not None:
                alerting.close()


def _cursor(scorer: Scorer, previous: WatchState | None, long_format: bool, state: Path | None):
    """The scoring cursor, resumed from the saved context when there is one (scoring.fleet.resume_cursor)."""
    return resume_cursor(scorer, previous.context if previous is not None else None, long_format, state,
                         WatchState.START_OVER)


def _check_file(data: Path, following: bool) -> None:
    if following and not _is_plain_csv(data):
        raise ConfigError(f"{data}: only a plain CSV file can be followed; use --replay")
    problem = missing_path_problem(data)
    if problem is not None and (data.is_symlink() or not following):
        raise ConfigError(problem if data.is_symlink() else f"{data} does not exist (use --follow to wait for it)")
    if following and problem is None and not data.is_file():
        raise ConfigError(f"{data} is not a regular file (a FIFO or a device?); watch --follow tails a regular file")


def _follow_series_column(series_column: str | None) -> str | None:
    """--series-col for a followed CSV: a column name, AUTO (None given: one named series_id), or None."""
    if series_column is None:
        return AUTO
    return None if series_column.lower() == "none" else series_column


def _is_plain_csv(path: Path) -> bool:
    return path.suffix.lower() in (".csv", ".txt", ".tsv", ".log", "") and not path.is_dir()


def _follows(path: Path) -> bool:
    """Follow a CSV that is still being written (modified in the last few seconds); replay the rest."""
    if not path.is_file() or not _is_plain_csv(path):
        return False
    return time.time() - path.stat().st_mtime < RECENTLY_MODIFIED_SECONDS
