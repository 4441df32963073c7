"""Quiet under benign change, measured: alerts before and after a refit on the benign-change families.

Families (`jepawatch.evaluation.benign_family`), each trained with `jepawatch train` (the default
preset, windows of 40 rows as the other one-a-minute families) on 10,000 normal rows, scored on
16,000 live rows at the window stride:
- `step`: three channels move to another operating point at live row 1,000, incidents (level jumps)
  after the first 4,000 rows of the new regime;
- `seasonal_amplitude`: the daily cycle's and a seasonal channel's amplitude grow 2.5 times from
  live row 1,000 (over 500 rows), incidents after the first 4,000 rows of it;
- `random_walk`: one channel wanders four times faster than in training; with and without incidents;
- `creep`: slow incidents (a drift over 30 windows to 6 standard deviations, held 5 windows).

Per family and seed, what an operator acts on (incidents detected and warned before onset, false
alarms per 1,000 normal windows, `evaluation.events.scored_events`; for the data without incidents
the share of windows that alert), on the windows after the first normal stretch of the new regime:
- `before`: the bundle as trained;
- `refit once`: after `Monitor.refit` on that stretch (not for `creep`, whose refit is attempted on
  the stretch that ends in the middle of its first creep: the guard must refuse it);
- `refit every 20`: a refit every 20 windows on the newest 4,000 rows (what a scheduled refit,
  `--refit-every 20`, will do; simulated here through the library, refits that the guard refuses or that find too
  little normal data leave the calibration as it was).

    python benchmarks/benign_change.py --out /tmp/benign          # every family, seeds 1 and 2
    python benchmarks/benign_change.py --families step --seeds 1 --out /tmp/benign
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np

from jepawatch.devices import cpu_name
from jepawatch.errors import DataError
from jepawatch.evaluation.benign_family import make_benign_data
from jepawatch.evaluation.events import scored_events

FAMILIES = ("step", "seasonal_amplitude", "random_walk", "random_walk-quiet", "creep")
EVERY, BACK = 20, 4000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", nargs="+", default=list(FAMILIES), choices=FAMILIES)
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    results, started = [], time.time()
    for family in args.families:
        for seed in args.seeds:
            result = run(family, seed, args.out)
            results.append(result)
            print(json.dumps(result), flush=True)
    table = render(results)
    header = (f"benign change, {date.today()}, {cpu_name()}, default preset, "
              f"{time.time() - started:.0f} s in all\n\n")
    (args.out / "table.md").write_text(header + table + "\n")
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(header + table)


def run(family: str, seed: int, out: Path) -> dict:
    import jepawatch

    kind = family.removesuffix("-quiet")
    data = make_benign_data(kind, seed=seed, incidents=not family.endswith("-quiet"))
    folder = out / f"{family}-seed{seed}"
    folder.mkdir(parents=True, exist_ok=True)
    data.train.to_csv(folder / "train.csv", index=False)
    bundle = folder / "models" / "trained"
    if not bundle.exists():
        subprocess.run(["jepawatch", "train", str(folder / "train.csv"), "--out", str(folder / "models"), "--name",
                        "trained", "--set", "model.window=40", "--set", "model.n_patches=4"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    live = data.live
    labels = live["label"].to_numpy()
    frame = live.drop(columns=["label"])
    start = 0 if kind == "creep" else data.stretch[1]
    result = {"family": family, "seed": seed, "incidents": len(data.incidents), "judged_from_row": start}

    monitor = jepawatch.load(bundle)
    result["before"] = judge(monitor.score(frame, warn=lambda m: None), labels, start, monitor.window)

    copy = fresh_copy(bundle, folder / "models" / "refit-once")
    monitor = jepawatch.load(copy)
    if kind == "creep":  # a refit attempted while the first creep is under way: the guard must refuse it
        onset, _ = data.incidents[0]
        stretch = frame.iloc[: onset + 800]
        try:
            record = monitor.refit(stretch, warn=lambda m: None)
            result["refit_mid_creep"] = {"applied": record["applied"], "check": record["check"]}
        except DataError as exc:
            result["refit_mid_creep"] = {"applied": False, "error": str(exc)}
    else:
        record = monitor.refit(frame.iloc[data.stretch[0]: data.stretch[1]], warn=lambda m: None)
        result["refit_once"] = {**judge(jepawatch.load(copy).score(frame, warn=lambda m: None), labels, start,
                                        monitor.window), "applied": record["applied"],
                                "largest_level_shift": record["moved"]["largest_level_shift"]}
    result["refit_every"] = refit_every(fresh_copy(bundle, folder / "models" / "refit-every"), frame, labels, start)
    return result


def fresh_copy(bundle: Path, where: Path) -> Path:
    shutil.rmtree(where, ignore_errors=True)
    shutil.copytree(bundle, where)
    return where


def refit_every(bundle: Path, frame, labels: np.ndarray, start: int) -> dict:
    """Score window by window, refitting every EVERY windows on the newest BACK rows (once 2,000 rows are in)."""
    from jepawatch.app.score import open_scorer
    from jepawatch.scoring import refit as refitting

    scorer = open_scorer(bundle, ".", "cpu")
    channels = scorer.bundle.preprocess.channels
    series = scorer.bundle.preprocess.transform(frame[channels].to_numpy(dtype=np.float32), channels)
    window = scorer.window
    starts = np.arange(window, len(series) - window + 1, window)
    alerts = np.zeros(len(starts), dtype=bool)
    applied = refused = skipped = 0
    for i in range(0, len(starts), EVERY):
        now = int(starts[i])
        if i and now >= 2000:
            first = max(0, now - BACK)
            try:
                result = refitting.refit_calibration(scorer, refitting.RecentData(series[first:now], first))
                if result.applied:
                    refitting.apply(scorer, result.risk)
                    applied += 1
                else:
                    refused += 1
            except DataError:
                skipped += 1
        chunk = starts[i: i + EVERY]
        alerts[i: i + len(chunk)] = scorer.calibration.risk(scorer.signals(series, chunk)) >= scorer.alert_at
    rows = {"window_start": starts, "window_end": starts + window - 1, "alert": alerts}
    return {**judge(rows, labels, start, window), "refits": applied, "refused": refused, "skipped": skipped}


def judge(rows, labels: np.ndarray, start: int, window: int) -> dict:
    """Events of the windows that start at `start` or later."""
    starts = np.asarray(rows["window_start"])
    keep = starts >= start
    ends, alerts = np.asarray(rows["window_end"])[keep], np.asarray(rows["alert"], dtype=bool)[keep]
    events = scored_events(labels, window, ends, alerts)
    return {"windows": int(keep.sum()), "alert_share": round(float(alerts.mean()), 4) if len(alerts) else float("nan"),
            "incidents": events.anomalies, "detected": events.detected, "warned": events.warned,
            "false_alarms": events.false_alarms, "normal_windows": events.normal_targets,
            "false_alarms_per_1000": round(events.false_alarms_per_1000, 1)}


def render(results: list[dict]) -> str:
    lines = ["| family | seed | scenario | windows alerting | detected | warned | false alarms / 1,000 normal windows | note |",
             "|---|---|---|---|---|---|---|---|"]
    for r in results:
        scenarios = [("before", r["before"], "")]
        if "refit_once" in r:
            once = r["refit_once"]
            scenarios.append(("refit once", once, f"applied {once['applied']}, largest level shift "
                                                  f"{once['largest_level_shift']} sd"))
        if "refit_mid_creep" in r:
            mid = r["refit_mid_creep"]
            scenarios.append(("refit mid-creep", None, f"applied {mid['applied']}"
                              + (f", {mid['check']['alerting_after']} of {mid['check']['windows']} newest windows "
                                 "alert against it" if "check" in mid else f": {mid.get('error', '')}")))
        every = r["refit_every"]
        scenarios.append((f"refit every {EVERY}", every, f"{every['refits']} applied, {every['refused']} refused, "
                                                         f"{every['skipped']} too little data"))
        for name, s, note in scenarios:
            if s is None:
                lines.append(f"| {r['family']} | {r['seed']} | {name} | | | | | {note} |")
                continue
            lines.append(f"| {r['family']} | {r['seed']} | {name} | {100 * s['alert_share']:.1f}% of {s['windows']} | "
                         f"{s['detected']}/{s['incidents']} | {s['warned']}/{s['incidents']} | "
                         f"{s['false_alarms_per_1000']} | {note} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
