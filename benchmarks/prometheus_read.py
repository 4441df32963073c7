"""Reading a week of Prometheus history: the prometheus adapter against a local server.

A real Prometheus (Debian's package: `prometheus`, `promtool`) is started on a free localhost port
with `SERIES` gauges backfilled for `DAYS` days at `STEP` seconds (promtool tsdb
create-blocks-from openmetrics); then the same range is read twice, each timed:
- reference: the HTTP queries alone (query_range in chunks of 10,000 steps, the JSON parsed),
  what any client of the API pays;
- jepawatch: `read_dataset(URL, -o query=... -o since=...d -o step=...s)`, the queries and the
  rows and channels built from them, as `train` and `score` read.
It prints both times, their ratio and the rows per second. The target (issue 31): a week at 15 s
steps for 50 series in under 10 s.

    python benchmarks/prometheus_read.py                       # 50 series, 7 days, 15 s
    python benchmarks/prometheus_read.py --series 10 --days 1  # a quick look
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the server the tests start

from prometheus_server import AVAILABLE, MISSING, PrometheusServer  # noqa: E402


def history_text(series: int, days: float, step: int) -> tuple[str, float, float]:
    """OpenMetrics text of `series` gauges `jw_bench{host="hN"}` (sines with noise) over `days` days
    ending 10 minutes ago; (text, first time, last time)."""
    end = (int(time.time()) // step) * step - 600
    times = np.arange(end - int(days * 86400) // step * step, end + 1, step, dtype=np.int64)
    rng = np.random.default_rng(0)
    stamp_text = times.astype(str)
    lines = ["# HELP jw_bench a benchmark gauge\n# TYPE jw_bench gauge\n"]
    for s in range(series):
        values = np.sin(2 * np.pi * times / (3600 * (1 + s % 7))) + 0.1 * rng.standard_normal(len(times))
        prefix = f'jw_bench{{host="h{s:02d}"}} '
        lines.append("".join(np.char.add(np.char.add(np.char.add(prefix, np.char.mod("%.6f", values)), " "),
                                         np.char.add(stamp_text, "\n")).tolist()))
    return "".join(lines), float(times[0]), float(times[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=50)
    parser.add_argument("--days", type=float, default=7.0)
    parser.add_argument("--step", type=int, default=15)
    args = parser.parse_args()
    if not AVAILABLE:
        sys.exit(f"this benchmark {MISSING}")

    from jepawatch.adapters import ReadOptions, read_dataset
    from jepawatch_adapters.prometheus import time_range
    from jepawatch_adapters.prometheus_http import Connection, query_range

    with tempfile.TemporaryDirectory() as root:
        began = time.perf_counter()
        text, first, last = history_text(args.series, args.days, args.step)
        made = time.perf_counter() - began
        began = time.perf_counter()
        server = PrometheusServer(Path(root), text)
        backfill = time.perf_counter() - began
        try:
            options = {"query": "jw_bench", "start": f"{first:.0f}", "end": f"{last:.0f}", "step": f"{args.step}s"}
            start, end, step = time_range(options)
            connection = Connection.from_source(server.url, options)
            query_range(connection, "jw_bench", end - 3600, end, step, "warm-up")  # the server's caches, once
            began = time.perf_counter()
            raw = query_range(connection, "jw_bench", start, end, step, "the query")
            reference = time.perf_counter() - began
            began = time.perf_counter()
            series = read_dataset(server.url, None, ReadOptions(extra=options)).series
            ours = time.perf_counter() - began
        finally:
            server.stop()
    points = sum(len(item["values"]) for item in raw)
    print(f"history: {args.series} series x {args.days:g} days at {args.step} s = {points:,} points "
          f"({len(text) / 1e6:.0f} MB of OpenMetrics made in {made:.1f} s, backfilled and served in {backfill:.1f} s)")
    print(f"reference, the HTTP queries and their JSON alone: {reference:.2f} s")
    print(f"jepawatch read (queries, rows and channels): {ours:.2f} s = {ours / reference:.2f} x the reference; "
          f"{series.n_steps:,} rows x {series.n_channels} channels, {series.n_steps / ours:,.0f} rows/s")
    print(f"target: under 10 s for 50 series x 7 days at 15 s: {'met' if ours < 10 else 'MISSED'} ({ours:.2f} s)")


if __name__ == "__main__":
    main()
