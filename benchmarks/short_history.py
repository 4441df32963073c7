"""How much history gives what: the label-free risk trained on the first H rows of one channel.

For each univariate series (SKAB's anomaly-free channels, the demo generator's channels (seed 101),
the precursor family's channels (seed 201), and MSL's telemanom training channels whose first
column is continuous) and each history H: `jepawatch.train` on rows [0, H) with windows of 30 rows
(3 patches), then the alert share at the default level on the next 1,000 rows (normal data) and
on its own training windows. One risk threshold for every series is what a fleet or a cron job
over many metrics relies on, so the spread across series matters as much as the median.

    python benchmarks/short_history.py                    # histories 300, 1000, 3000
    python benchmarks/short_history.py --histories 300 --families skab,demo
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import warnings
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

import jepawatch
from jepawatch.devices import cpu_name

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
FOLLOWING = 1000


def series_of(family: str) -> list[tuple[str, np.ndarray]]:
    if family == "skab":
        frame = pd.read_csv(SHARED / "skab" / "anomaly-free" / "anomaly-free.csv", sep=";")
        return [(f"skab:{c}", frame[c].to_numpy(float)) for c in frame.columns[1:]]
    if family == "demo":
        from jepawatch.demo.generator import make_demo_data
        frame = make_demo_data(train_rows=10000, live_rows=500, seed=101, n_anomalies=1).train
    elif family == "precursor":
        from jepawatch.evaluation.precursor_family import make_precursor_data
        frame = make_precursor_data(train_rows=10000, n_incidents=1, seed=201).train
    elif family == "msl":
        out = []
        for path in sorted((SHARED / "msl" / "telemanom" / "train").glob("*.npy")):
            x = np.load(path)[:, 0].astype(float)
            if len(np.unique(x[:300])) > 20:  # a continuous channel, not a flag
                out.append((f"msl:{path.stem}", x))
        return out
    else:
        raise SystemExit(f"unknown family {family!r}")
    return [(f"{family}:{c}", frame[c].to_numpy(float)) for c in frame.columns if c != "timestamp"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--histories", default="300,1000,3000")
    parser.add_argument("--families", default="skab,demo,precursor,msl")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    histories = [int(h) for h in args.histories.split(",")]
    rows = []
    with tempfile.TemporaryDirectory() as models:
        for family in args.families.split(","):
            for name, x in series_of(family):
                for h in histories:
                    if len(x) < h + FOLLOWING:
                        continue
                    monitor = jepawatch.train(pd.DataFrame({"value": x[:h]}), out=models, name="s", device="cpu",
                                              settings=["model.window=30", "model.n_patches=3"], warn=lambda m: None)
                    scored = monitor.score(pd.DataFrame({"value": x[:h + FOLLOWING]}))
                    own, following = scored[scored.window_end < h], scored[scored.window_start >= h]
                    rows.append({"series": name, "history": h, "own": float(own.alert.mean()),
                                 "following": float(following.alert.mean())})
                    print(json.dumps(rows[-1]), flush=True)
    frame = pd.DataFrame(rows)
    print(f"\nMeasured {date.today()} on {cpu_name()}, {os.cpu_count()} cores, `python benchmarks/short_history.py "
          f"--histories {args.histories} --families {args.families}`\n")
    print(f"| history (rows) | series | alerts on the next {FOLLOWING:,} rows: median / mean | series at most 2% "
          "| alerts on its own training windows: mean / max |\n|---|---|---|---|---|")
    for h, group in frame.groupby("history"):
        print(f"| {h:,} | {len(group)} | {100 * group.following.median():.1f}% / {100 * group.following.mean():.1f}% "
              f"| {(group.following <= 0.02).sum()} of {len(group)} | {100 * group.own.mean():.1f}% / {100 * group.own.max():.1f}% |")


if __name__ == "__main__":
    main()
