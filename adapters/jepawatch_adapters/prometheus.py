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

import numpy as np

from jepawatch.adapters import Adapter, Dataset, ReadOptions, Series
from jepawatch.errors import DataError
from jepawatch_adapters.prometheus_http import SCHEMES, Connection, query_range

DEFAULT_SINCE, DEFAULT_STEP = "1d", "15s"
UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)")
MAX_ROWS = 5_000_000  # range / step: a typo in `step` should not ask the server for a billion points
TIME_COLUMN, SERIES_COLUMN = "timestamp", "series_id"


class PrometheusAdapter(Adapter):
    name = "prometheus"
    description = "A Prometheus server: the series of PromQL queries over a range (-o query=..., since=, step=)."
    formats = ("http://HOST:9090 (or https://, prometheus://) with -o query=PROMQL",)
    options = ("query", "query.*", "since", "until", "start", "end", "step", "series_by", "timeout", "user",
               "password_file", "token_file", "ca_file", "cert_file", "key_file", "insecure")
    repeatable = ("query",)
    schemes = tuple(SCHEMES)

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
        found: dict[str, dict] = {}  # channel name -> {series id -> {row: value}}
        for prefix, query, what in queries:
            result = query_range(connection, query, start, end, step, what)
            if not result:
                notes.append(f"{what} gave no series between {_iso(start)} and {_iso(end)}")
            for item in result:
                name = channel_name(prefix, item["metric"], series_by)
                sid = item["metric"].get(series_by, "") if series_by else ""
                cells = found.setdefault(name, {}).setdefault(sid, {})
                for stamp, value in item["values"]:
                    cells[int(round((float(stamp) - start) / step))] = _value(value)
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
        extra = sorted(set(found) - set(wanted))
        absent = [c for c in wanted if c not in found]
        if len(absent) == len(wanted):
            raise DataError(f"the query gives none of the model's {len(wanted)} channels (it gives {len(found)}, first "
                            f"{sorted(found)[0]}; the model has {wanted[0]}, ...); query what the model was trained on")
        if extra:
            notes.append(f"{len(extra)} series the model was not trained on left out (first: {extra[0]})")
        if absent:
            notes.append(f"{len(absent)} of the model's channels have no samples in this range, so they are missing "
                         f"throughout (first: {absent[0]}): a series that stopped, or a changed label?")
        return wanted


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
    text = metric.get("__name__", "") + ("{" + body + "}" if body or "__name__" not in metric else "")
    return f"{prefix}:{text}" if prefix else text


def build_series(found: dict, channels: list[str], start: float, step: float, long_format: bool, source: str,
                 notes: list[str]) -> Series:
    """Rows on the grid (each series id's rows from its first sample to its last, time-major when
    several), one column per channel; a step without a sample is NaN."""
    ids = sorted({sid for by_id in found.values() for sid in by_id})
    spans = {}
    for sid in ids:
        rows = [row for name in channels for row in found.get(name, {}).get(sid, {})]
        if rows:
            spans[sid] = (min(rows), max(rows))
    first, last = min(s[0] for s in spans.values()), max(s[1] for s in spans.values())
    order = [(row, sid) for row in range(first, last + 1) for sid in ids if sid in spans
             and spans[sid][0] <= row <= spans[sid][1]]
    index = {key: i for i, key in enumerate(order)}
    values = np.full((len(order), len(channels)), np.nan, dtype=np.float32)
    infinite = 0
    for j, name in enumerate(channels):
        for sid, cells in found.get(name, {}).items():
            for row, value in cells.items():
                i = index.get((row, sid))
                if i is None:
                    continue
                if math.isinf(value) or abs(value) > np.finfo(np.float32).max:
                    infinite += 1
                    continue
                values[i, j] = value
    if first > 0:
        notes.append(f"no samples before {_iso(start + first * step)}: the rows start there")
    seconds = np.asarray([start + row * step for row, _ in order], dtype=np.float64)
    stamps = (seconds * 1e9).round().astype("int64").astype("datetime64[ns]")
    metadata = {"source": source, "timestamp_column": TIME_COLUMN, "label_column": None,
                "series_column": SERIES_COLUMN if long_format else None, "dropped_columns": {},
                "infinite_cells": infinite, "notes": list(notes)}
    series_ids = np.asarray([sid for _, sid in order], dtype=object) if long_format else None
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
