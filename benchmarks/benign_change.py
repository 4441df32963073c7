"""Quiet under benign change, measured: alerts before and after a refit on the benign-change families.

Families (`jepawatch.evaluation.benign_family`), each trained with `jepawatch train` (the default
preset, windows of 40 rows as the other one-a-minute families) on 10,000 normal rows, scored on
40,000 live rows (1,000 windows) at the window stride:
- `step`: three channels move to another operating point at live row 1,000, incidents (level jumps)
  after the first 4,000 rows of the new regime;
- `seasonal_amplitude`: the daily cycle's and a seasonal channel's amplitude grow 2.5 times from
  live row 1,000 (over 500 rows), incidents after the first 4,000 rows of it;
- `random_walk`: one channel wanders four times faster than in training; with and without incidents;
- `creep`: slow incidents (a drift over 30 windows to 6 standard deviations, held 5 windows);
- `skab` (real data, when ../shared/data/skab is there): SKAB's water-circulation testbed, trained on
  its normal run, whose valve experiments run at another operating point; judged on experiments
  4-15, the refit made on experiments 0-3 (their labelled rows left out).

Per family and seed, what an operator acts on (incidents detected and warned before onset, false
alarms per 1,000 normal windows, `evaluation.events.scored_events`; the share of windows that
alert), on the windows after the first normal stretch of the new regime, twice: for the risk itself
(its windows at the alert level) and for what an operator is shown (the rows' alerts, with "the data
moved" notice in place of an alert a window, and the alert events and notices of the alert tracker):
- `before`: the bundle as trained;
- `refit once`: after `Monitor.refit` on that stretch (not for `creep`, whose refit is made on the
  stretch that ends in the middle of its first creep: the rest of that creep must still alert,
  whether the guard refused the refit or the creep's windows were left out of it);
- `refit every 20`: `Monitor.score(live, refit_every=20)`, what `score --refit-every 20` does: a
  refit every 20 windows on the newest 4,000 rows (refits that the guard refuses or that find too
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

FAMILIES = ("step", "seasonal_amplitude", "random_walk", "random_walk-quiet", "creep", "skab")
SKAB = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "skab"
EVERY = 20
LIVE_ROWS = 40000  # 1,000 windows: enough normal windows that 1% of them is ten


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", nargs="+", default=list(FAMILIES), choices=FAMILIES)
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    results, started = [], time.time()
    for family in args.families:
        if family == "skab":
            if not SKAB.exists():
                print(f"skipped skab: {SKAB} is not there", flush=True)
                continue
            results.append(skab(args.out))
            print(json.dumps(results[-1]), flush=True)
            continue
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


def skab(out: Path) -> dict:
    """Real data at another operating point: SKAB (../shared/data/skab), trained on `anomaly-free` as
    benchmarks/early_warning.py trains it; judged on valve1 experiments 4-15 (each cut to whole
    windows, pooled), before and after a refit on experiments 0-3 (their labelled rows left out)."""
    import pandas as pd

    import jepawatch

    folder = out / "skab"
    bundle = folder / "models" / "trained"
    if not bundle.exists():
        subprocess.run(["jepawatch", "train", str(SKAB / "anomaly-free" / "anomaly-free.csv"), "--out",
                        str(folder / "models"), "--name", "trained", "--set", "model.window=40", "--set",
                        "model.n_patches=4"], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    parts = []
    for i in range(16):
        frame = pd.read_csv(SKAB / "valve1" / f"{i}.csv", sep=";").drop(columns=["changepoint"])
        parts.append(frame.iloc[: len(frame) // 40 * 40].rename(columns={"anomaly": "label"}))
    refit_on, scored = pd.concat(parts[:4], ignore_index=True), pd.concat(parts[4:], ignore_index=True)
    labels, frame = scored["label"].to_numpy().astype(int), scored.drop(columns=["label"])
    copy = fresh_copy(bundle, folder / "models" / "refit-once")
    monitor = jepawatch.load(copy)
    result = {"family": "skab", "seed": 0, "incidents": None, "judged_from_row": 0,
              "before": judge(monitor.score(frame, warn=lambda m: None), labels, 0, monitor.window)}
    record = monitor.refit(refit_on, warn=lambda m: None)
    result["refit_once"] = {**judge(jepawatch.load(copy).score(frame, warn=lambda m: None), labels, 0, monitor.window),
                            "applied": record["applied"], "largest_level_shift": record["moved"]["largest_level_shift"]}
    result["refit_every"] = refit_every(fresh_copy(bundle, folder / "models" / "refit-every"), frame, labels, 0)
    return result


def run(family: str, seed: int, out: Path) -> dict:
    import jepawatch

    kind = family.removesuffix("-quiet")
    data = make_benign_data(kind, seed=seed, live_rows=LIVE_ROWS, incidents=not family.endswith("-quiet"))
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
    if kind == "creep":  # a refit while the first creep is under way must not absorb it
        onset, length = data.incidents[0]
        cut = onset + 800
        try:
            record = monitor.refit(frame.iloc[:cut], warn=lambda m: None)
            mid = {"applied": record["applied"], "check": record["check"],
                   "left_out_alerted_rows": record["windows"]["left_out_rows"]["alerted"]}
        except DataError as exc:
            mid = {"applied": False, "error": str(exc)}
        rows = jepawatch.load(copy).score(frame, warn=lambda m: None)  # the rest of that creep, after the refit
        rest = rows[(rows.window_start >= cut) & (rows.window_end < onset + length)]
        mid["creep_windows_after"] = len(rest)
        mid["creep_windows_alerting_after"] = int((rest.next_window_risk >= monitor.alert_at).sum())
        result["refit_mid_creep"] = mid
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
    """`Monitor.score(frame, refit_every=EVERY)`: what `score --refit-every` does (the newest 100
    windows' rows, a refit every EVERY windows once enough rows are in)."""
    import jepawatch

    monitor = jepawatch.load(bundle)
    lines: list[str] = []
    rows = monitor.score(frame, refit_every=EVERY, warn=lines.append)
    applied = sum(line.startswith("refit on") for line in lines)
    refused = sum(line.startswith("refit refused") for line in lines)
    skipped = sum(line.startswith("refit skipped") for line in lines)
    return {**judge(rows, labels, start, monitor.window), "refits": applied, "refused": refused, "skipped": skipped}


def judge(rows, labels: np.ndarray, start: int, window: int, alert_at: float = 0.99) -> dict:
    """Events of the windows that start at `start` or later: of the risk itself (`risk`: its windows at
    the alert level) and of what an operator gets (`shown`: the rows' alerts, "the data moved" notice
    taking the place of an alert a window, and the alert tracker's events at --for 1 --clear 1)."""
    from jepawatch.alerts.tracker import FIRING, MOVED, RISK, AlertTracker

    frame = rows if hasattr(rows, "iloc") else None
    records = frame.to_dict("records") if frame is not None else rows
    records = [r for r in records if r["window_start"] >= start]
    ends = np.asarray([r["window_end"] for r in records], dtype=np.int64)
    out = {"windows": len(records)}
    for name, alerts in (("risk", np.asarray([r["next_window_risk"] >= alert_at for r in records], dtype=bool)),
                         ("shown", np.asarray([bool(r["alert"]) for r in records], dtype=bool))):
        events = scored_events(labels, window, ends, alerts)
        out[name] = {"alert_share": round(float(alerts.mean()), 4) if len(alerts) else float("nan"),
                     "incidents": events.anomalies, "detected": events.detected, "warned": events.warned,
                     "false_alarms": events.false_alarms, "normal_windows": events.normal_targets,
                     "false_alarms_per_1000": round(events.false_alarms_per_1000, 1)}
    tracker = AlertTracker("series", "model")
    fired = [e for r in records for e in tracker.update({**r, "notice": r["notice"] if isinstance(r.get("notice"), str)
                                                         else None}) if e.status == FIRING]
    out["shown"]["alert_events"] = sum(e.kind == RISK for e in fired)
    out["shown"]["notices"] = sum(e.kind == MOVED for e in fired)
    return out


def render(results: list[dict]) -> str:
    lines = ["| family | seed | scenario | risk: windows alerting | detected | warned | false alarms / 1,000 normal windows "
             "| shown: windows alerting | alert events | notices | detected | false alarms / 1,000 | note |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        scenarios = [("before", r["before"], "")]
        if "refit_once" in r:
            once = r["refit_once"]
            scenarios.append(("refit once", once, f"applied {once['applied']}, largest level shift "
                                                  f"{once['largest_level_shift']} sd"))
        if "refit_mid_creep" in r:
            mid = r["refit_mid_creep"]
            scenarios.append(("refit mid-creep", None, f"applied {mid['applied']}"
                              + (f" ({mid['check']['alerting_after']} of {mid['check']['windows']} newest unexcluded "
                                 f"windows alert against it; {mid['left_out_alerted_rows']} alerted rows left out)"
                                 if "check" in mid else f": {mid.get('error', '')}")
                              + f"; the rest of that creep: {mid['creep_windows_alerting_after']} of "
                                f"{mid['creep_windows_after']} windows alert"))
        every = r["refit_every"]
        scenarios.append((f"refit every {EVERY}", every, f"{every['refits']} applied, {every['refused']} refused, "
                                                         f"{every['skipped']} too little data"))
        for name, s, note in scenarios:
            if s is None:
                lines.append(f"| {r['family']} | {r['seed']} | {name} |" + " |" * 9 + f" {note} |")
                continue
            k, o = s["risk"], s["shown"]
            lines.append(f"| {r['family']} | {r['seed']} | {name} | {100 * k['alert_share']:.1f}% of {s['windows']} | "
                         f"{k['detected']}/{k['incidents']} | {k['warned']}/{k['incidents']} | {k['false_alarms_per_1000']} | "
                         f"{100 * o['alert_share']:.1f}% | {o['alert_events']} | {o['notices']} | "
                         f"{o['detected']}/{o['incidents']} | {o['false_alarms_per_1000']} | {note} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
