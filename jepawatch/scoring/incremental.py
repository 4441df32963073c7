"""One `score` run over a file: stream it, score the windows not scored before, write, save the state.

With a state file the run holds its lock throughout (`locking`), clears what a killed run left,
recovers a state that got ahead of its output, and saves the state only after the output is
written (`scoring.state` says why that makes a crash repeat windows instead of losing them).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from jepawatch.adapters import ReadOptions, iter_batches, source_name, url_scheme
from jepawatch.adapters.registry import follow, follows
from jepawatch.adapters.quality import ReadTally
from jepawatch.alerts.pipeline import AlertSettings, Alerting, describe, series_name
from jepawatch.atomic import remove_stale_temporaries
from jepawatch.errors import ConfigError, DataError
from jepawatch.locking import state_lock
from jepawatch.scoring.data_moved import DataMoved
from jepawatch.scoring.fleet import resume_cursor, score_fleet
from jepawatch.scoring.refit_schedule import RefitSchedule, RefittingCursor
from jepawatch.scoring.results import append_results, output_behind, write_results
from jepawatch.scoring.scorer import Scorer
from jepawatch.scoring.state import ScoreState


@dataclass
class ScoreRequest:
    data: Path | pd.DataFrame
    adapter: str | None
    options: ReadOptions  # with the bundle's channels as `columns`
    out: Path | None = None  # None: the caller prints the rows
    state: Path | None = None
    lock_wait: float = 10.0
    alerts: AlertSettings | None = None  # hysteresis, webhook, Prometheus textfile
    refit: RefitSchedule | None = None  # `--refit-every`: the reference refitted on the newest rows while scoring


def score_file(scorer: Scorer, request: ScoreRequest, warn: Callable[[str], None],
               emit: Callable[[list[dict]], None] | None = None,
               notify: Callable[[str], None] = lambda line: None) -> list[dict]:
    """The rows of the windows scored in this run: written to `request.out`, else given to `emit`
    (printed), in both cases before the state is saved, so rows that never got out are scored again.
    With `request.alerts`, the rows then go through the alert state (its events to `notify`, one
    line each, and to the webhook) and the metrics, before the state is saved with the alerts'."""
    with state_lock(request.state, request.lock_wait):
        previous = _previous_state(scorer, request, warn)
        moved = DataMoved(previous.moved if previous else None)  # a damaged record is said before anything runs
        tally = ReadTally(source_name(request.data))
        if request.state is not None and url_scheme(request.data) is not None and follows(request.data, request.adapter):
            read = _catch_up(scorer, request, previous, tally, warn)
        else:
            read = _score_input(scorer, request, previous, tally, warn, notify)
        rows, rows_seen = read.rows, read.rows_seen
        rows = moved.annotate(rows)  # "the data moved" once, instead of an alert every window
        if read.position is None and previous is not None and rows_seen < previous.rows_seen:
            raise DataError(f"{source_name(request.data)} has {rows_seen} rows but {previous.rows_seen} were seen before: the file was "
                            f"replaced or truncated; delete {request.state} to score it from the beginning")
        if tally.warning():
            warn(tally.warning())

        mark = previous.out_mark if previous is not None else None
        if request.out is not None:
            mark = append_results(request.out, rows, mark) if previous is not None else write_results(request.out, rows)
        elif emit is not None:
            emit(rows)
        alerts = previous.alerts if previous is not None else None
        alerting = None
        if request.alerts is not None and request.alerts.active:
            alerting = Alerting(request.alerts, series_name(request.data), scorer.bundle.name, alerts, warn, request.state,
                                fleet=read.fleet)
        try:
            if alerting is not None:
                for event in alerting.observe(rows):
                    notify(describe(event))
                alerts = alerting.state()
            if request.state is not None:  # saved before delivery ends: a kill then does not resend the events
                bundle = scorer.bundle
                ScoreState(str(bundle.path), bundle.meta["weights_sha256"], scorer.stride, read.next_start,
                           rows_seen, mark.rows if mark else 0, out_bytes=mark.bytes if mark else None,
                           alerts=alerts, series=read.cursors, windows_since_refit=read.since_refit,
                           moved=moved.to_dict(), position=read.position, context=read.context).save(request.state)
        finally:
            if alerting is not None:
                alerting.close()
    return rows


@dataclass
class Read:
    """What one run read and scored, and what its state keeps."""

    rows: list[dict]
    rows_seen: int
    next_start: int = 0
    fleet: bool = False
    cursors: dict | None = None  # a long-format table: each series' cursor (scoring.fleet)
    since_refit: int = 0
    position: dict | None = None  # a live source: where its feed got
    context: dict | None = None  # ... and the scoring context


def _score_input(scorer: Scorer, request: ScoreRequest, previous: ScoreState | None, tally: ReadTally, warn,
                 notify) -> Read:
    """A file (or any input read whole each run) from its start, scoring the windows from the state's on."""
    if previous is not None and previous.position is not None:
        raise DataError(f"state file {request.state} was made scoring a live source; use a new --state file for "
                        f"{request.data}")
    rows_seen = 0

    def counted(batches):
        nonlocal rows_seen
        for batch in batches:
            rows_seen += batch.n_steps
            tally.add(batch)
            yield batch

    rows = []
    batches = counted(iter_batches(request.data, request.adapter, request.options))
    first = next(batches, None)
    batches = itertools.chain([first] if first is not None else [], batches)
    fleet = first is not None and first.series_ids is not None
    _check_layout(previous, fleet, request.state)
    cursors, next_start, since_refit = None, 0, 0
    if fleet and request.refit is not None:
        raise ConfigError("--refit-every refits one series' reference; a long-format table shares one bundle "
                          "across its series: refit each series' own bundle, or leave --refit-every out")
    if fleet:  # a long-format table: each series on its own (scoring.fleet)
        rows, cursors = score_fleet(scorer, batches, previous.series if previous else None, warn,
                                    source_name(request.data))
    else:
        cursor = scorer.cursor(previous.next_start if previous else None)
        if request.refit is not None:
            cursor = RefittingCursor(cursor, request.refit.beside(request.state),
                                     previous.windows_since_refit if previous else 0, notify, warn,
                                     source_name(request.data))
        for batch in batches:
            rows.extend(cursor.push(batch))
        next_start = cursor.context.next_start
        since_refit = cursor.windows_since if isinstance(cursor, RefittingCursor) else 0
        needed = max(scorer.settings.first_row or 0, scorer.window) + scorer.window  # a window and its predecessor
        if not rows and previous is None and rows_seen < needed:
            warn(f"{source_name(request.data)} has {rows_seen} row(s): nothing to score; a window is scored once it "
                 f"and the window before it are complete, so give at least {needed} rows (windows of "
                 f"{scorer.window})")
    return Read(rows, rows_seen, next_start, fleet, cursors, since_refit)


def _catch_up(scorer: Scorer, request: ScoreRequest, previous: ScoreState | None, tally: ReadTally, warn) -> Read:
    """A live source (a Prometheus server) with --state: its feed read on from the saved position until
    it has caught up, the windows scored with the saved context (as `watch --state` does)."""
    if request.refit is not None:
        raise ConfigError("--refit-every is for files; with a live source, refit with `jepawatch refit` or watch it")
    if previous is not None and previous.position is None:
        raise DataError(f"state file {request.state} was made scoring a file; use a new --state file for {request.data}")
    long_format = bool(request.options.extra.get("series_by"))
    cursor = resume_cursor(scorer, previous.context if previous is not None else None, long_format, request.state,
                           ScoreState.START_OVER)
    rows: list[dict] = []
    feed = follow(request.data, request.adapter, request.options, previous.position if previous is not None else None)
    position = previous.position if previous is not None else None
    try:
        for fed in feed:
            if fed.error is not None:  # a cron run does not wait for the server: the next run reads on
                raise DataError(f"{fed.error}; the rows read in this run are scored again next run")
            for event in fed.events:
                warn(event)
            position = fed.position
            if fed.batch is not None:
                tally.add(fed.batch)
                rows.extend(cursor.push(fed.batch))
            if fed.caught_up:
                break
    finally:
        getattr(feed, "close", lambda: None)()
    context = cursor.context.to_dict()
    next_start = 0 if long_format else cursor.context.next_start
    rows_read = sum(c.rows_read for c in cursor.context.contexts.values()) if long_format else cursor.context.rows_read
    return Read(rows, rows_read, next_start, long_format, None, 0, position, context)


def _previous_state(scorer: Scorer, request: ScoreRequest, warn) -> ScoreState | None:
    """The saved state (None without one), checked against this run and rewound to its output if need be."""
    state, out = request.state, request.out
    if state is None:
        return None
    for path in (state, out):  # under the lock, what a run killed mid-write left is stale
        if path is not None:
            remove_stale_temporaries(path)
    previous = ScoreState.load(state)
    if previous is None:
        return None
    previous.check(state, scorer.bundle.meta["weights_sha256"], scorer.stride)
    behind = output_behind(out, previous.out_mark) if out is not None else None
    if behind is not None and (previous.series is not None or previous.position is not None):
        raise DataError(f"{out} holds {behind.mark.rows} row(s) but the state says {previous.out_rows} (an interrupted "
                        f"or overlapping run); with many series, move {out} away or delete {state} to score again")
    if behind is not None:
        warn(f"{out} holds {behind.mark.rows} row(s) but the state says {previous.out_rows} (an interrupted or "
             "overlapping run); scoring again from the window after its last row")
        previous = previous.rewound_to(behind, scorer.stride)
    return previous


def _check_layout(previous: ScoreState | None, fleet: bool, path: Path | None) -> None:
    """A state of one series is not the state of a long-format table, nor the other way round."""
    if previous is not None and (previous.series is not None) != fleet:
        table, one = "a long-format table", "one series"
        made, now = (table, one) if previous.series is not None else (one, table)
        raise DataError(f"state file {path} was made scoring {made} but this run scores {now}; "
                        "use a new --state file, or the same --series-col as before")
