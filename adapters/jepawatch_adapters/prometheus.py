"""Prometheus as a source: the series of one or more PromQL queries over a range, as channels.

    jepawatch train http://localhost:9090 -o 'query=rate(node_cpu_seconds_total{mode!="idle"}[1m])' \\
        -o 'query=node_memory_MemAvailable_bytes' -o since=7d -o step=15s
    jepawatch score http://localhost:9090 -o query=... -o since=1h --model localhost-9090

Options (`-o KEY=VALUE`, the spelling of Prometheus' own API and promtool):
- `query=PROMQL` (repeatable), or `query.NAME=PROMQL` to name a query's channels `NAME:...`.
- `since=7d` (how far back from `until`; Prometheus durations: 15s, 5m, 2h, 7d, 1w), `until=`
  (RFC 3339 or Unix seconds; default now), or `start=` and `end=`; `step=15s` (the row spacing).
- `series_by=LABEL` (e.g. instance): each value of the label is its own series (long format), as
  `score --series-col` reads a table with a host column; the channels are the label sets without it.
- `timeout=30`, and the credentials and TLS options of `prometheus_http`.

Each returned series (label set) is a channel, named as Prometheus prints it:
`node_memory_MemAvailable_bytes{instance="a:9100",job="node"}`; a query's result without a metric
name (`rate(...)`) is named by its labels, prefixed `q2:` when more than one query is given (or by
the query's own name). Channels come in sorted order, so the same query gives the same channels.
Rows are the grid `start, start + step, ..., end` (the range is aligned to multiples of the step,
so runs over the same range agree row for row); a step with no sample of a series is a missing
cell, filled as in any other data. Steps before the first sample of any series and after the last
are left out (said). Reading for a bundle (`columns` given): a series the model does not know is
left out, one it knows that has no sample is missing throughout; both are one line each.
"""

from __future__ import annotations

import math
import re
import time
from datetime import datetime, timezone
from typing import Iterator

import numpy as np

from jepawatch.adapters import Adapter, Dataset, Fed, ReadOptions, Series
from jepawatch.errors import DataError
from jepawatch_adapters.prometheus_http import CHUNK_POINTS, SCHEMES, Connection, query_range

DEFAULT_SINCE, DEFAULT_STEP = "1d", "15s"
UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)")
MAX_ROWS = 5_000_000  # range / step: a typo in `step` should not ask the server for a billion points
TIME_COLUMN, SERIES_COLUMN = "timestamp", "series_id"
RETRY_SECONDS = 5.0  # following: how often a server that stopped answering is asked again


class PrometheusAdapter(Adapter):
    name = "prometheus"
    description = "A Prometheus server: the series of PromQL queries over a range (-o query=..., since=, step=)."
    formats = ("http://HOST:9090 (or https://, prometheus://) with -o query=PROMQL",)
    options = ("query", "query.*", "since", "until", "start", "end", "step", "lag", "series_by", "timeout", "user",
               "password_file", "token_file", "ca_file", "cert_file", "key_file", "insecure")
    repeatable = ("query",)
    schemes = tuple(SCHEMES)
    follows = True

    def sniff(self, path) -> float:
        return 0.0  # files are not ours; a URL reaches this adapter by its scheme

    def read(self, path, options: ReadOptions) -> Dataset:
        source = str(path)
        extra = dict(options.extra)
        connection = Connection.from_source(source, extra)
        queries = named_queries(extra)
        start, end, step = time_range(extra)
        series_by = extra.get("series_by") or None
        notes: list[str] = []
        found = fetch(connection, queries, start, end, step, series_by, notes)
        notes = [f"{note} between {_iso(start)} and {_iso(end)}" for note in notes]
        if not found:
            raise DataError(f"{'the queries gave' if len(queries) > 1 else queries[0][2].capitalize() + ' gave'} no series "
                            f"between {_iso(start)} and {_iso(end)}; check the metric names and labels in Prometheus' "
                            "expression browser, and the range (-o since=, -o until=)")
        channels = self._channels(found, options, notes)
        series = build_series(found, channels, start, step, bool(series_by), source, notes)
        return Dataset(source=source, adapter=self.name, series=series)

    @staticmethod
    def _channels(found: dict, options: ReadOptions, notes: list[str]) -> list[str]:
        if options.columns is None:
            return sorted(found)
        wanted = list(options.columns)
        extra, absent = differences(found, wanted)
        if len(absent) == len(wanted):
            raise DataError(f"the query gives none of the model's {len(wanted)} channels (it gives {len(found)}, first "
                            f"{sorted(found)[0]}; the model has {wanted[0]}, ...); query what the model was trained on")
        if extra:
            notes.append(f"{len(extra)} series the model was not trained on left out (first: {extra[0]})")
        if absent:
            notes.append(f"{len(absent)} of the model's channels have no samples in this range, so they are missing "
                         f"throughout (first: {absent[0]}): a series that stopped, or a changed label?")
        return wanted

    def follow(self, path, options: ReadOptions, position: dict | None) -> Iterator[Fed]:
        """Each step once it is `lag` old (default: one step, time for its scrape to land), from
        `position` ({"next": the next step's time, "step"}), else from `since` ago; the channels are
        the model's. A server that stops answering once it has answered is said and asked again every
        few seconds (its first read in a run is an error at once: a wrong address or query)."""
        source, extra = str(path), dict(options.extra)
        connection = Connection.from_source(source, extra)
        queries = named_queries(extra)
        step = duration(extra.get("step", DEFAULT_STEP), "step")
        lag = duration(extra["lag"], "lag") if "lag" in extra else step
        series_by = extra.get("series_by") or None
        if options.columns is None:
            raise DataError("following Prometheus needs the model's channels (watch gives them)")
        channels = list(options.columns)
        if position is not None:
            if not isinstance(position, dict) or position.get("step") != step or not isinstance(position.get("next"), (int, float)):
                raise DataError(f"the state was saved following with another step than {step:g} s (or is damaged); "
                                "give the step it was made with, or a new --state file")
            next_time, started = float(position["next"]), bool(position.get("started", True))
        else:
            next_time, started = time_range(extra)[0], False
        said: set[str] = set()
        failing, answered = False, False
        while True:
            newest = math.floor((time.time() - lag) / step) * step
            if newest < next_time:
                yield Fed(None, _position(next_time, step, started), caught_up=True)
                time.sleep(min(0.25, max(0.01, next_time + lag - time.time())))
                continue
            end = min(newest, next_time + (CHUNK_POINTS - 1) * step)
            notes: list[str] = []
            try:
                found = fetch(connection, queries, next_time, end, step, series_by, notes)
            except DataError as error:
                if not answered:
                    raise  # the first read of this run: a wrong address or query is said at once
                message = f"{error}; asking again every {RETRY_SECONDS:g} s"
                yield Fed(None, _position(next_time, step, started), [] if failing else [message], error=str(error))
                failing = True
                time.sleep(RETRY_SECONDS)
                continue
            events = ["Prometheus answers again"] if failing else []
            failing, answered = False, True
            for note in self._notes_once(found, channels, notes, said):
                events.append(note)
            last = int(round((end - next_time) / step))
            order = grid_order(found, channels, range(0, last + 1), bool(series_by), skip_empty=not started)
            started = started or bool(len(order[0]))
            batch = series_of(found, channels, order, next_time, step, bool(series_by), source, []) if len(order[0]) else None
            next_time = end + step
            yield Fed(batch, _position(next_time, step, started), events)

    @staticmethod
    def _notes_once(found: dict, channels: list[str], notes: list[str], said: set[str]) -> list[str]:
        """What changed in the series, once each: queries with no series, series the model does not
        know (first seen), model channels without samples (first missed)."""
        out = [n for n in notes if n not in said]
        extra, absent = ([c for c in names if c not in said] for names in differences(found, channels))
        if extra:
            out.append(f"{len(extra)} series the model was not trained on left out (first: {extra[0]})")
        if absent:
            out.append(f"{len(absent)} of the model's channels have no samples now (first: {absent[0]}): missing "
                       "cells until they come back")
        said.update(notes, extra, absent)
        said.difference_update(c for c in channels if c in found)  # back: said again if it goes missing again
        return out


def differences(found: dict, channels: list[str]) -> tuple[list[str], list[str]]:
    """(series found that are not channels, sorted; channels not found, in order)."""
    return sorted(set(found) - set(channels)), [c for c in channels if c not in found]


def _position(next_time: float, step: float, started: bool) -> dict:
    return {"next": next_time, "step": step, "started": started}


def fetch(connection: Connection, queries: list, start: float, end: float, step: float, series_by: str | None,
          notes: list[str]) -> dict[str, dict]:
    """channel name -> {series id -> (grid rows, values)} of every query's series on the grid from
    `start` (a query with no series is said in `notes`)."""
    found: dict[str, dict] = {}
    for prefix, query, what in queries:
        result = query_range(connection, query, start, end, step, what)
        if not result:
            notes.append(f"{what} gives no series")
        for item in result:
            name = channel_name(prefix, item["metric"], series_by)
            sid = item["metric"].get(series_by, "") if series_by else ""
            rows, values = _samples(item["values"], start, step)
            by_id = found.setdefault(name, {})
            if sid in by_id:  # the same channel from two label sets (a series label dropped): the later wins
                rows, values = np.concatenate([by_id[sid][0], rows]), np.concatenate([by_id[sid][1], values])
            by_id[sid] = (rows, values)
    return found


def _samples(pairs: list, start: float, step: float) -> tuple[np.ndarray, np.ndarray]:
    """(grid rows, values) of a series' [[time, "value"], ...] ("NaN" and "+Inf" as Prometheus writes them)."""
    if not pairs:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    stamps = np.fromiter((p[0] for p in pairs), dtype=np.float64, count=len(pairs))
    try:
        values = np.asarray([p[1] for p in pairs], dtype=np.float64)
    except (TypeError, ValueError):
        values = np.asarray([_value(p[1]) for p in pairs], dtype=np.float64)
    return np.rint((stamps - start) / step).astype(np.int64), values


def named_queries(extra: dict) -> list[tuple[str, str, str]]:
    """(channel prefix, PromQL, how messages name it) of every query option, in the order given."""
    plain = extra.get("query", ())
    plain = (plain,) if isinstance(plain, str) else tuple(plain)
    named = [(key[len("query."):], value) for key, value in extra.items() if key.startswith("query.")]
    if not plain and not named:
        raise DataError("give the series to read as -o query=PROMQL (repeatable), e.g. "
                        "-o 'query=rate(node_cpu_seconds_total{mode!=\"idle\"}[1m])'")
    out = []
    for i, query in enumerate(plain):
        prefix = f"q{i + 1}" if len(plain) + len(named) > 1 else ""
        out.append((prefix, _checked(query, f"query {i + 1}"), f"query {i + 1} ({_short(query)})"))
    for name, query in named:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise DataError(f"-o query.{name}=...: a query's name is letters, digits and _")
        out.append((name, _checked(query, f"query {name}"), f"query {name} ({_short(query)})"))
    return out


def time_range(extra: dict) -> tuple[float, float, float]:
    """(start, end, step) in Unix seconds, aligned to multiples of the step."""
    step = duration(extra.get("step", DEFAULT_STEP), "step")
    if "start" in extra or "end" in extra:
        if "since" in extra or "until" in extra:
            raise DataError("give the range as since= (and until=), or as start= and end=, not both")
        if "start" not in extra:
            raise DataError("-o end= needs -o start= (or give -o since=)")
        start, end = moment(extra["start"], "start"), moment(extra.get("end", "now"), "end")
    else:
        end = moment(extra.get("until", "now"), "until")
        start = end - duration(extra.get("since", DEFAULT_SINCE), "since")
    end = math.floor(end / step) * step
    start = math.ceil(start / step) * step
    if start >= end:
        raise DataError(f"the range {_iso(start)} to {_iso(end)} holds no two steps of {step:g} s; widen it")
    if (end - start) / step + 1 > MAX_ROWS:
        raise DataError(f"the range at a step of {step:g} s is {int((end - start) / step) + 1:,} rows, more than "
                        f"{MAX_ROWS:,}; give a longer -o step= or a shorter range")
    return start, end, step


def duration(text: str, what: str) -> float:
    """A Prometheus duration (`15s`, `1h30m`, `7d`) or plain seconds, in seconds (> 0)."""
    text = str(text).strip()
    try:
        seconds = float(text)
    except ValueError:
        parts = DURATION.findall(text)
        seconds = sum(float(n) * UNITS[u] for n, u in parts) if "".join(n + u for n, u in parts) == text else -1.0
    if not (seconds > 0 and math.isfinite(seconds)):
        raise DataError(f"-o {what}={text}: give a duration such as 15s, 5m, 2h, 7d")
    return seconds


def moment(text: str, what: str) -> float:
    """`now`, Unix seconds or an RFC 3339 time, in Unix seconds."""
    text = str(text).strip()
    if text == "now":
        return time.time()
    try:
        return float(text)
    except ValueError:
        pass
    try:
        stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise DataError(f"-o {what}={text}: give now, Unix seconds or a time like 2026-12-04T10:00:00Z") from None
    return (stamp if stamp.tzinfo else stamp.replace(tzinfo=timezone.utc)).timestamp()


def channel_name(prefix: str, metric: dict, series_by: str | None) -> str:
    """How Prometheus prints a series (`name{a="x",b="y"}`), without the series label, after `prefix:`."""
    labels = sorted((k, v) for k, v in metric.items() if k not in ("__name__", series_by))
    body = ",".join(f'{k}="{v}"' for k, v in labels)
    text = metric.get("__name__", "") + ("{" + body + "}" if body else "")
    if prefix:
        return f"{prefix}:{text}" if text else prefix  # `sum(...)` of a named query: just its name
    return text or "{}"


def grid_order(found: dict, channels: list[str], rows: range, long_format: bool,
               skip_empty: bool) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The output rows as (grid row, series index, series ids): one series (wide), every step of
    `rows`, but those before its first sample when `skip_empty`; many series (long), time-major,
    the steps where each has a sample."""
    ids = sorted({sid for name in channels for sid in found.get(name, {})}) or [""]
    sampled = np.zeros((len(ids), len(rows)), dtype=bool)
    for name in channels:
        for sid, (grid, _) in found.get(name, {}).items():
            inside = grid[(grid >= rows.start) & (grid < rows.stop)] - rows.start
            sampled[ids.index(sid), inside] = True
    if long_format:
        steps, series = np.nonzero(sampled.T)  # time-major: step by step, each step's series in order
        return steps.astype(np.int64) + rows.start, series, ids
    where = np.flatnonzero(sampled.any(axis=0))
    if skip_empty and not len(where):
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), ids
    first = int(where[0]) if skip_empty else 0  # once started, a step without any sample is a row of missing cells
    steps = np.arange(first, len(rows), dtype=np.int64) + rows.start
    return steps, np.zeros(len(steps), dtype=np.int64), ids


def build_series(found: dict, channels: list[str], start: float, step: float, long_format: bool, source: str,
                 notes: list[str]) -> Series:
    """The rows of a read over a range: one series from its first sample to its last step with one,
    many series each at its sampled steps."""
    grids = [grid for name in channels for grid, _ in found.get(name, {}).values() if len(grid)]
    first, last = min(int(g.min()) for g in grids), max(int(g.max()) for g in grids)
    order = grid_order(found, channels, range(first, last + 1), long_format, skip_empty=True)
    if first > 0:
        notes.append(f"no samples before {_iso(start + first * step)}: the rows start there")
    return series_of(found, channels, order, start, step, long_format, source, notes)


def series_of(found: dict, channels: list[str], order: tuple[np.ndarray, np.ndarray, list[str]], start: float,
              step: float, long_format: bool, source: str, notes: list[str]) -> Series:
    """The values at `order`'s rows, one column per channel; a step without a sample is NaN."""
    steps, series, ids = order
    lo = int(steps.min())
    position = np.full((len(ids), int(steps.max()) - lo + 1), -1, dtype=np.int64)  # (series, step) -> output row
    position[series, steps - lo] = np.arange(len(steps))
    values = np.full((len(steps), len(channels)), np.nan, dtype=np.float32)
    infinite = 0
    limit = np.finfo(np.float32).max
    for j, name in enumerate(channels):
        for sid, (grid, samples) in found.get(name, {}).items():
            keep = (grid >= lo) & (grid < lo + position.shape[1])
            rows = position[ids.index(sid), grid[keep] - lo]
            taken, got = rows >= 0, samples[keep]
            finite = np.abs(got) <= limit  # NaN stays NaN below; inf and beyond float32 count as missing
            infinite += int((taken & ~finite & ~np.isnan(got)).sum())
            use = taken & (finite | np.isnan(got))
            values[rows[use], j] = got[use]
    seconds = start + steps.astype(np.float64) * step
    stamps = (seconds * 1e9).round().astype("int64").astype("datetime64[ns]")
    metadata = {"source": source, "timestamp_column": TIME_COLUMN, "label_column": None,
                "series_column": SERIES_COLUMN if long_format else None, "dropped_columns": {},
                "infinite_cells": infinite, "notes": list(notes)}
    series_ids = np.asarray([ids[i] for i in series], dtype=object) if long_format else None
    return Series(values, list(channels), stamps, None, metadata, series_ids=series_ids)


def _value(text: object) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        return float("nan")


def _checked(query: str, what: str) -> str:
    if not query.strip():
        raise DataError(f"{what} is empty; give -o query=PROMQL")
    return query.strip()


def _short(query: str) -> str:
    return query if len(query) <= 60 else query[:57] + "..."


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
