"""Write examples/machine_metrics.csv: a small synthetic server-metrics series for the Quickstart,
and examples/demo_train.csv + examples/demo_live.csv: the data of `jepawatch demo` (a web service
with spikes and drifts announced by weak precursors; see jepawatch/demo/generator.py).

Six correlated channels (a daily cycle, a load-driven CPU/latency/network trio, a slow memory
ramp with resets, a noisy disk channel), one constant status channel that training drops, and a
timestamp column, one row per minute. Deterministic: the same file every run.

    python examples/make_example.py [--rows 6000] [--out examples/machine_metrics.csv]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd


def make_metrics(rows: int, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    t = np.arange(rows, dtype=np.float64)
    day = 1440.0
    load = 0.5 + 0.35 * np.sin(2 * np.pi * t / day) + 0.1 * np.sin(2 * np.pi * t / 97.0)
    load += 0.03 * rng.standard_normal(rows)
    cpu = 20 + 60 * load + 2.0 * rng.standard_normal(rows)
    latency = 35 + 40 * load**2 + 3.0 * rng.standard_normal(rows)
    net_in = 200 + 500 * np.roll(load, 3) + 20 * rng.standard_normal(rows)
    memory = 40 + (t % 2000) / 2000 * 30 + 0.5 * rng.standard_normal(rows)  # slow ramp, reset by GC
    disk = 5 + 2 * rng.standard_exponential(rows)
    queue = np.maximum(0, 3 * (load - 0.7) * 10 + rng.standard_normal(rows))
    stamps = pd.date_range("2026-01-01", periods=rows, freq="min")
    return pd.DataFrame({
        "timestamp": stamps.strftime("%Y-%m-%d %H:%M:%S"),
        "cpu_pct": cpu.round(3), "latency_ms": latency.round(3), "net_in_kbps": net_in.round(2),
        "memory_pct": memory.round(3), "disk_io_mbps": disk.round(3), "queue_len": queue.round(3),
        "status_ok": np.ones(rows, dtype=int),
    })


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=6000)
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("machine_metrics.csv"))
    args = parser.parse_args()
    make_metrics(args.rows).to_csv(args.out, index=False)
    print(f"wrote {args.out} ({args.rows} rows)")
    from jepawatch.demo.run import write_demo_files

    files = write_demo_files(args.out.parent)
    print(f"wrote {files.train} and {files.live}")


if __name__ == "__main__":
    main()
