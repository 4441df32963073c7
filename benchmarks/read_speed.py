"""Read speed and streaming memory of the CSV and Parquet adapters.

    python benchmarks/read_speed.py                 # 1M rows x 50 channels (+ a timestamp column)
    python benchmarks/read_speed.py --rows 200000   # quicker

Generates the files on the fly (in a temporary folder), then:
1. Rows per second reading the whole file with jepawatch's adapter (to a (T, V) float32 array,
   timestamps parsed) next to the plain library call in the same run:
   `pandas.read_csv(engine="pyarrow")` for CSV and `pyarrow.parquet.read_table` for Parquet.
   Calls alternate, `--repeat` times each; medians are reported. Goal: ratio <= 1.2.
2. Peak memory while streaming (`iter_batches`, nothing kept) files 1x, 2x and 10x one batch long
   (`--lengths`),
   each in a fresh process (resident memory sampled every millisecond, above the RSS after
   imports; Linux only). Goal: flat in file length. The whole-file read of the long file is shown for contrast.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pv
import pyarrow.parquet as pq

from jepawatch.adapters import iter_batches, read_dataset


def make_table(rows: int, cols: int, seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    data = {"timestamp": pa.array(np.datetime64("2026-01-01T00:00:00") + np.arange(rows).astype("timedelta64[s]"))}
    for j in range(cols):
        data[f"m{j:02d}"] = pa.array(rng.standard_normal(rows).round(4))
    return pa.table(data)


def write_files(folder: Path, rows: int, cols: int, row_group: int) -> dict[str, Path]:
    table = make_table(rows, cols)
    paths = {"csv": folder / f"r{rows}.csv", "parquet": folder / f"r{rows}.parquet"}
    pv.write_csv(table, paths["csv"])
    pq.write_table(table, paths["parquet"], row_group_size=row_group)
    return paths


def time_interleaved(calls: dict[str, callable], repeat: int) -> dict[str, float]:
    times = {name: [] for name in calls}
    for _ in range(repeat):
        for name, call in calls.items():
            start = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(ts) for name, ts in times.items()}


def current_rss_mib() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class RssSampler(threading.Thread):
    """Samples the process's resident memory every millisecond; `peak` is the highest seen."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak = current_rss_mib()
        self.running = True

    def run(self) -> None:
        while self.running:
            self.peak = max(self.peak, current_rss_mib())
            time.sleep(0.001)


def child(mode: str, fmt: str, path: str, batch_rows: int) -> None:
    """Run in a fresh process: print the peak RSS (MiB) above the RSS after imports."""
    base = current_rss_mib()
    sampler = RssSampler()
    sampler.start()
    steps = 0
    if mode == "stream":
        for batch in iter_batches(Path(path), fmt, batch_rows=batch_rows):
            steps += batch.n_steps
    else:
        steps = read_dataset(Path(path), fmt).series.n_steps
    sampler.running = False
    sampler.join()
    print(json.dumps({"steps": steps, "extra_mib": max(sampler.peak, current_rss_mib()) - base}))


def peak_memory(mode: str, fmt: str, path: Path, batch_rows: int) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", mode, fmt, str(path), str(batch_rows)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--cols", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--batch-rows", type=int, default=None, help="streaming batch (default: rows/10)")
    parser.add_argument("--lengths", default="1,2,10", help="file lengths to stream, in batches (default 1,2,10)")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode, fmt, path, batch_rows = args.child
        child(mode, fmt, path, int(batch_rows))
        return

    batch_rows = args.batch_rows or args.rows // 10
    print(f"# read_speed: {args.rows} rows x {args.cols} channels + timestamp; streaming batch {batch_rows} rows")
    print(f"# machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; "
          f"pandas {pd.__version__}, pyarrow {pa.__version__}, numpy {np.__version__}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        start = time.perf_counter()
        long_files = write_files(folder, args.rows, args.cols, row_group=batch_rows)
        lengths = [int(x) for x in args.lengths.split(",")]
        stream_files = {n: long_files if n * batch_rows == args.rows else
                        write_files(folder, n * batch_rows, args.cols, row_group=batch_rows) for n in lengths}
        print(f"# files written in {time.perf_counter() - start:.1f} s: CSV {long_files['csv'].stat().st_size / 2**20:.0f} MiB, "
              f"Parquet {long_files['parquet'].stat().st_size / 2**20:.0f} MiB")

        print("\n## whole-file read (median of", args.repeat, "alternating runs)")
        print(f"{'format':8} {'reference call':34} {'ref s':>7} {'jepawatch s':>12} {'jepawatch rows/s':>17} {'ratio':>6}")
        references = {
            "csv": ("pandas.read_csv(engine='pyarrow')", lambda p: pd.read_csv(p, engine="pyarrow")),
            "parquet": ("pyarrow.parquet.read_table", lambda p: pq.read_table(p)),
        }
        for fmt, (label, reference) in references.items():
            path = long_files[fmt]
            series = read_dataset(path, fmt).series
            assert series.values.shape == (args.rows, args.cols), series.values.shape
            medians = time_interleaved({"ref": lambda: reference(path), "ours": lambda: read_dataset(path, fmt)}, args.repeat)
            ratio = medians["ours"] / medians["ref"]
            print(f"{fmt:8} {label:34} {medians['ref']:7.3f} {medians['ours']:12.3f} "
                  f"{args.rows / medians['ours']:17,.0f} {ratio:6.2f}")

        print("\n## peak memory above the process baseline (fresh process each)")
        print(f"{'format':8} " + " ".join(f"{f'stream {n}x batch':>16}" for n in lengths) + f" {'whole-file read':>16}")
        for fmt in ("csv", "parquet"):
            streamed = []
            for n in lengths:
                result = peak_memory("stream", fmt, stream_files[n][fmt], batch_rows)
                assert result["steps"] == n * batch_rows
                streamed.append(result["extra_mib"])
            whole = peak_memory("whole", fmt, long_files[fmt], batch_rows)
            assert whole["steps"] == args.rows
            print(f"{fmt:8} " + " ".join(f"{m:12.0f} MiB" for m in streamed) + f" {whole['extra_mib']:12.0f} MiB")
        print(f"# whole-file read: the {args.rows}-row file")


if __name__ == "__main__":
    main()
