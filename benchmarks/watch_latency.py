"""How fast `jepawatch watch --follow` turns appended rows into scored windows.

1. Latency: a writer appends rows to a CSV at a steady rate; `watch --follow --jsonl` runs in a
   child process. For every window, the time from the flush of its last row to its JSON line
   arriving on the pipe: p50 and p99.
2. Sustained throughput: a backlog of rows is appended at once; rows per second from the append
   to the last window's line. The reference, measured in the same run on the same rows: batch
   `jepawatch score` of the same file (rows per second, start-up excluded), printed as a ratio.

Model: the paper config (window 100, 5 patches, D 256, K 128, 6 encoder layers) with 25 channels,
trained for one epoch on generated data (speed does not depend on how well it is trained), or a
bundle given with --model.

    python benchmarks/watch_latency.py [--rate 500] [--windows 100] [--backlog 50000] [--model DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

CHANNELS = 25


def make_rows(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    t = np.arange(n)[:, None]
    phase = rng.uniform(0, 2 * np.pi, CHANNELS)[None, :]
    period = rng.uniform(30, 300, CHANNELS)[None, :]
    values = np.sin(2 * np.pi * t / period + phase) + 0.2 * rng.standard_normal((n, CHANNELS))
    return pd.DataFrame(values.round(4), columns=[f"m{i:02d}" for i in range(CHANNELS)])


def train_bundle(root: Path) -> Path:
    data = root / "train.csv"
    make_rows(4000, 0).to_csv(data, index=False)
    subprocess.run([sys.executable, "-m", "jepawatch", "train", str(data), "--epochs", "1", "--preset", "paper", "--out", str(root / "models"),
                    "--device", "cpu"], check=True, capture_output=True)
    return root / "models" / "train"


class Watcher:
    def __init__(self, model: Path, path: Path):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "jepawatch", "watch", str(path), "--model", str(model), "--follow", "--jsonl",
             "--poll", "0.01", "--device", "cpu"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONUNBUFFERED="1"))
        self.arrivals: dict[int, float] = {}  # window_end -> arrival time
        self.started = threading.Event()
        threading.Thread(target=self._out, daemon=True).start()
        threading.Thread(target=self._err, daemon=True).start()

    def _out(self):
        for line in self.process.stdout:
            self.arrivals[json.loads(line)["window_end"]] = time.perf_counter()

    def _err(self):
        for line in self.process.stderr:
            if "following" in line:
                self.started.set()

    def wait_for(self, window_end: int, timeout: float = 600) -> float:
        deadline = time.monotonic() + timeout
        while window_end not in self.arrivals:
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise SystemExit(f"watch did not score the window ending at {window_end}")
            time.sleep(0.001)
        return self.arrivals[window_end]

    def stop(self):
        self.process.terminate()
        self.process.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=500.0, help="rows per second for the latency run")
    parser.add_argument("--windows", type=int, default=100, help="windows timed in the latency run")
    parser.add_argument("--backlog", type=int, default=50_000, help="rows appended at once for throughput")
    parser.add_argument("--model", type=Path, help="a bundle (default: train the paper config for one epoch)")
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="watch-latency-"))
    model = args.model or train_bundle(root)
    bundle_config = json.loads((model / "config.json").read_text())
    window = bundle_config["model"]["window"]
    names = [f"m{i:02d}" for i in range(CHANNELS)]
    print(f"watch latency, {date.today()}, {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"model {model} (window {window}, {CHANNELS} channels)")

    # 1. latency at a steady rate
    path = root / "live.csv"
    rows = make_rows(window * (args.windows + 2), 1).to_csv(index=False, header=False).splitlines(keepends=True)
    path.write_text(",".join(names) + "\n" + "".join(rows[: window]))  # the first window is context only
    watcher = Watcher(model, path)
    watcher.started.wait(120)
    written: dict[int, float] = {}
    chunk = max(1, int(args.rate / 50))  # 50 appends a second
    start = time.perf_counter()
    with open(path, "a") as handle:
        for first in range(window, len(rows), chunk):
            due = start + (first - window) / args.rate
            while time.perf_counter() < due:
                time.sleep(0.0005)
            handle.write("".join(rows[first: first + chunk]))
            handle.flush()
            now = time.perf_counter()
            for row in range(first, min(first + chunk, len(rows))):
                if (row + 1) % window == 0 and row >= 2 * window - 1:
                    written[row] = now
    latencies = np.asarray([watcher.wait_for(end) - t for end, t in sorted(written.items())]) * 1000
    watcher.stop()
    print(f"latency at {args.rate:g} rows/s over {len(latencies)} windows: p50 {np.percentile(latencies, 50):.1f} ms, "
          f"p99 {np.percentile(latencies, 99):.1f} ms, max {latencies.max():.1f} ms")

    # 2. sustained throughput on a backlog, and batch `score` on the same file
    path = root / "backlog.csv"
    path.write_text(",".join(names) + "\n")
    backlog = make_rows(args.backlog, 2).to_csv(index=False, header=False)
    watcher = Watcher(model, path)
    watcher.started.wait(120)
    last_end = (args.backlog // window) * window - 1
    start = time.perf_counter()
    with open(path, "a") as handle:
        handle.write(backlog)
    done = watcher.wait_for(last_end)
    watcher.stop()
    follow_rate = args.backlog / (done - start)

    from jepawatch.adapters import iter_batches, ReadOptions
    from jepawatch.scoring.scorer import Scorer

    scorer = Scorer.load(str(model), model.parent, "cpu")
    options = ReadOptions(columns=tuple(scorer.bundle.preprocess.channels))
    start = time.perf_counter()
    scored = sum(len(chunk) for chunk in scorer.stream(iter_batches(path, None, options)))
    score_rate = args.backlog / (time.perf_counter() - start)
    print(f"follow mode, {args.backlog:,}-row backlog: {follow_rate:,.0f} rows/s sustained "
          f"({follow_rate / window:,.1f} windows/s)")
    print(f"reference, batch score of the same file in-process ({scored} windows): {score_rate:,.0f} rows/s; "
          f"ratio follow/score {follow_rate / score_rate:.2f}")


if __name__ == "__main__":
    main()
