"""Scoring a fleet: many series in one long-format table, three ways, rows per second in one run.

A generated Parquet table of `--series` hosts x `--rows` rows x 8 channels (default 1,000 x 2,000
x 8 = 2 million rows) is scored with one bundle (the default preset, trained one epoch on 8
generated channels, exported to ONNX; speed does not depend on how well it is trained) by

  (a) a loop of `jepawatch score HOST.parquet` processes, one per host (what a user without
      `--series-col` would run): timed on `--loop-sample` hosts and extrapolated to the fleet,
      since each process pays the start-up (importing torch, loading the bundle) again;
  (b) one `jepawatch score fleet.parquet --series-col host` process;
  (c) Spark in local mode on this machine's cores (`examples/spark_score.py`, local[N]), start of
      the JVM and the Python workers included,

each writing its rows to a file; wall time, rows per second and the ratio to (b). (b) and (c)
must give the same rows (risks to 1e-6): checked and printed.

    python benchmarks/fleet_speed.py [--series 1000] [--rows 2000] [--loop-sample 10] [--model DIR]
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
CHANNELS = [f"m{i}" for i in range(8)]


def fleet_table(series: int, rows: int, seed: int = 0) -> pd.DataFrame:
    """`series` hosts of `rows` seconds each: sines of random periods and phases plus noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(rows, dtype=np.float32)[None, :, None]  # (1, T, 1)
    periods = rng.uniform(30, 300, (series, 1, len(CHANNELS))).astype(np.float32)
    phases = rng.uniform(0, 2 * np.pi, (series, 1, len(CHANNELS))).astype(np.float32)
    values = np.sin(2 * np.pi * t / periods + phases) + 0.2 * rng.standard_normal((series, rows, len(CHANNELS)), dtype=np.float32)
    frame = pd.DataFrame(values.reshape(-1, len(CHANNELS)), columns=CHANNELS)
    frame.insert(0, "timestamp", np.tile(pd.date_range("2026-01-01", periods=rows, freq="s").to_numpy(), series))
    frame.insert(0, "host", np.repeat([f"host-{i:04d}" for i in range(series)], rows))
    return frame


def train_bundle(root: Path) -> Path:
    fleet_table(4, 2000, seed=99).drop(columns="host").to_csv(root / "train.csv", index=False)
    jepawatch(["train", str(root / "train.csv"), "--epochs", "1", "--out", str(root / "models"), "--device", "cpu"])
    return root / "models" / "train"


def jepawatch(args: list[str]) -> float:
    """Wall seconds of one `jepawatch` process (it must succeed)."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "jepawatch", *args], capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"jepawatch {' '.join(args[:2])} failed: {done.stderr.strip().splitlines()[-1:]}")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=1000)
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--loop-sample", type=int, default=10, help="hosts timed for the loop of processes")
    parser.add_argument("--model", type=Path, help="a bundle with 8 channels m0..m7 (default: trained here)")
    parser.add_argument("--cores", type=int, default=os.cpu_count(), help="Spark's local[N]")
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="fleet-speed-"))
    bundle = args.model or train_bundle(root)
    jepawatch(["export", "--onnx", "--model", str(bundle)])
    table = fleet_table(args.series, args.rows)
    data = root / "fleet.parquet"
    table.to_parquet(data, index=False)
    total_rows = len(table)
    print(f"fleet_speed {date.today()} on {platform.processor() or platform.machine()}, {os.cpu_count()} cores: "
          f"{args.series:,} series x {args.rows:,} rows x {len(CHANNELS)} channels = {total_rows:,} rows; "
          f"bundle {bundle}")

    loop_seconds = 0.0
    for i in range(min(args.loop_sample, args.series)):
        one = root / f"host-{i}.parquet"
        table.iloc[i * args.rows:(i + 1) * args.rows].drop(columns="host").to_parquet(one, index=False)
        loop_seconds += jepawatch(["score", str(one), "--model", str(bundle), "--out", str(root / f"host-{i}.jsonl")])
    sample = min(args.loop_sample, args.series)
    loop_rate = sample * args.rows / loop_seconds

    one_seconds = jepawatch(["score", str(data), "--model", str(bundle), "--series-col", "host",
                             "--out", str(root / "fleet.jsonl")])
    one_rate = total_rows / one_seconds

    start = time.perf_counter()
    done = subprocess.run([sys.executable, str(REPO / "examples" / "spark_score.py"), str(data), str(bundle),
                           str(root / "spark.parquet"), "--series-col", "host"], capture_output=True, text=True,
                          env={**os.environ, "PYSPARK_SUBMIT_ARGS": f"--master local[{args.cores}] pyspark-shell"})
    spark_seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"spark scoring failed: {done.stderr.strip().splitlines()[-1:]}")
    spark_rate = total_rows / spark_seconds

    local = pd.read_json(root / "fleet.jsonl", lines=True).sort_values(["series", "window_start"]).reset_index(drop=True)
    spark = pd.read_parquet(root / "spark.parquet").sort_values(["series", "window_start"]).reset_index(drop=True)
    same = (len(local) == len(spark) and (local["series"] == spark["series"]).all()
            and (local["window_start"] == spark["window_start"]).all()
            and bool(np.abs(local["next_window_risk"] - spark["next_window_risk"]).max() <= 1e-6))

    print(f"(a) loop of processes  {loop_rate:10,.0f} rows/s  ({loop_seconds / sample:.2f} s a host, "
          f"{sample} timed; the fleet would take {args.series * loop_seconds / sample:,.0f} s)  {loop_rate / one_rate:.3f}x")
    print(f"(b) one --series-col   {one_rate:10,.0f} rows/s  ({one_seconds:.1f} s, {len(local):,} windows)  1.000x")
    print(f"(c) Spark local[{args.cores}]      {spark_rate:10,.0f} rows/s  ({spark_seconds:.1f} s with start-up)  "
          f"{spark_rate / one_rate:.3f}x")
    print(f"(b) and (c) give the same rows: {'yes' if same else 'NO'}")


if __name__ == "__main__":
    main()
