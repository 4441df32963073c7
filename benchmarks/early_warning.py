"""Early warning, measured: the label-free risk against simple detectors on several data sets.

Data sets (each trained and evaluated with the user-facing commands, `jepawatch train` and
`jepawatch evaluate --json --ablate-risk`):
- `demo-seed101`, `demo-seed102`, `demo-seed103`: the demo's generator with other seeds than the
  shipped demo files (which are never used here), 10,000 normal training rows and a live part with 80
  anomalies, 40 spikes and 40 drifts, each after its weak precursor;
- `precursor-seed201`, `-seed202`, `-seed203`: `jepawatch.evaluation.precursor_family`, incidents
  (level jumps) announced 120-150 rows ahead by a change of dynamics within the normal range (a new
  frequency, a decoupled follower, variance collapse or growth, a slow creep), 40 incidents, 8 of
  each kind, 10,000 normal training rows;
- `msl`: ../shared/data/msl (NASA, concatenated layout), trained on its train part, evaluated on
  its whole test part;
- `skab`: ../shared/data/skab, trained on `anomaly-free`, evaluated on the `valve1` experiments
  pooled: each file cut to whole windows and the files concatenated into one labelled CSV in OUT
  (so no window mixes two experiments; the 15 pairs across a file boundary are kept).

    python benchmarks/early_warning.py                     # every data set, the default preset
    python benchmarks/early_warning.py --datasets demo-seed101 --epochs 4 --out /tmp/ew

Per data set the first table gives the risk's next-window AUC and normal-context AUC on the whole
labelled data, the best baseline's and the margin, and the risk with its statistics components
only and with every component (what the model components add); the second, what an operator acts
on: incidents detected and warned before onset and false alarms per 1,000 normal windows at the
product's alert level, and the risk beside the best baseline at the same false-alarm rate (1%). Everything goes to OUT
(bundles, logs, each `evaluate` JSON, table.md, results.json); a data set whose JSON is there is
not run again unless --fresh.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pandas as pd

from jepawatch.devices import cpu_name

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"
DATASETS = ("demo-seed101", "demo-seed102", "demo-seed103", "precursor-seed201", "precursor-seed202",
            "precursor-seed203", "msl", "skab")
# Every data set is trained with the default preset (`jepawatch train` as a user runs it); only
# the window follows the data set (the demo's 40 rows for the one-a-minute and one-a-second data).
WINDOWS = {"demo": ["model.window=40", "model.n_patches=4"], "precursor": ["model.window=40", "model.n_patches=4"],
           "msl": [], "skab": ["model.window=40", "model.n_patches=4"]}
ANOMALIES = 80  # 40 of each kind
ROWS_PER_ANOMALY = 430  # the generator spreads anomalies over slots; a drift with its precursor needs ~400 rows


def prepare(name: str, out: Path) -> tuple[Path, Path, list[str]]:
    """(training data, labelled data, extra evaluate arguments) of data set `name`."""
    if name.startswith("demo-seed"):
        from jepawatch.demo.generator import make_demo_data

        seed = int(name.removeprefix("demo-seed"))
        folder = out / name
        folder.mkdir(parents=True, exist_ok=True)
        train, live = folder / "train.csv", folder / "live.csv"
        if not live.exists():
            data = make_demo_data(train_rows=10000, live_rows=300 + ANOMALIES * ROWS_PER_ANOMALY, seed=seed,
                                  n_anomalies=ANOMALIES)
            data.train.to_csv(train, index=False)
            data.live.to_csv(live, index=False)
        return train, live, ["--label-col", "label"]
    if name.startswith("precursor-seed"):
        from jepawatch.evaluation.precursor_family import make_precursor_data

        folder = out / name
        folder.mkdir(parents=True, exist_ok=True)
        train, live = folder / "train.csv", folder / "live.csv"
        if not live.exists():
            data = make_precursor_data(train_rows=10000, n_incidents=40, seed=int(name.removeprefix("precursor-seed")))
            data.train.to_csv(train, index=False)
            data.live.to_csv(live, index=False)
        return train, live, ["--label-col", "label"]
    if name == "msl":
        return SHARED / "msl", SHARED / "msl", []
    if name == "skab":
        pooled = out / "skab-valve1-pooled.csv"
        if not pooled.exists():
            parts = []
            for path in sorted((SHARED / "skab" / "valve1").glob("*.csv"), key=lambda p: int(p.stem)):
                frame = pd.read_csv(path, sep=";").drop(columns=["changepoint"])
                parts.append(frame.iloc[: len(frame) // 40 * 40])
            pd.concat(parts).rename(columns={"anomaly": "label"}).to_csv(pooled, index=False)
        return SHARED / "skab" / "anomaly-free" / "anomaly-free.csv", pooled, ["--label-col", "label"]
    raise SystemExit(f"unknown data set {name!r}; choose from {', '.join(DATASETS)}")


def run(cmd: list[str], log: Path) -> float:
    start = time.perf_counter()
    with open(log, "a") as f:
        f.write("$ " + " ".join(cmd) + "\n")
        f.flush()
        done = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        raise SystemExit(f"failed ({done.returncode}): {' '.join(cmd)}; see {log}")
    return time.perf_counter() - start


def measure(name: str, args, out: Path) -> dict:
    result_path = out / f"{name}.eval.json"
    if result_path.exists() and not args.fresh:
        return json.loads(result_path.read_text())
    train_data, labelled, extra = prepare(name, out)
    kind = name.split("-")[0]
    settings = [s for item in WINDOWS[kind] for s in ("--set", item)]
    log = out / f"{name}.log"
    bundle = out / "models" / name
    epochs = ["--epochs", str(args.epochs)] if args.epochs else []
    train_cmd = ["jepawatch", "train", str(train_data), "--out", str(out / "models"), "--name", name, *epochs,
                 "--device", args.device, *settings, *args.train_arg]
    train_s = run(train_cmd, log)
    eval_cmd = ["jepawatch", "evaluate", str(labelled), "--model", str(bundle), "--seeds", str(args.seeds),
                "--ablate-risk", "--json", "--device", args.device, *extra]
    if kind == "skab":
        eval_cmd += ["--train-data", str(train_data)]
    start = time.perf_counter()
    with open(log, "a") as f:
        f.write("$ " + " ".join(eval_cmd) + "\n")
        done = subprocess.run(eval_cmd, capture_output=True, text=True)
        f.write(done.stderr)
    if done.returncode != 0:
        raise SystemExit(f"evaluate failed on {name}: {done.stderr.strip()[-500:]}")
    result = json.loads(done.stdout)
    result["benchmark"] = {"train_command": " ".join(train_cmd), "evaluate_command": " ".join(eval_cmd),
                           "train_s": round(train_s, 1), "evaluate_s": round(time.perf_counter() - start, 1)}
    result_path.write_text(json.dumps(result, indent=1) + "\n")
    return result


def table(results: dict[str, dict]) -> str:
    lines = ["| data set | risk: next | best baseline: next | margin | risk: normal ctx | best baseline: normal ctx | margin "
             "| stats only: next / normal | all components: next / normal | model only: next / normal | events at alert level |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, result in results.items():
        ew = result["early_warning"]
        whole, best = ew["scores"]["whole"], ew["best_baseline"]["whole"]

        def pair(key):
            row = whole.get(key)
            return f"{_pct(row['next'])} / {_pct(row['normal_context'])}" if row else "n/a"

        e = ew["events"]
        lines.append(
            f"| {name} | {_pct(whole['label_free_risk']['next'])} | {best['next']['name']} {_pct(best['next']['auc'])} "
            f"| {_signed(best['next']['margin'])} | {_pct(whole['label_free_risk']['normal_context'])} "
            f"| {best['normal_context']['name']} {_pct(best['normal_context']['auc'])} | {_signed(best['normal_context']['margin'])} "
            f"| {pair('risk, statistics components only')} | {pair('risk, all components')} | {pair('risk, model components only')} "
            f"| warned {e['warned']}/{e['anomalies']}, {e['false_alarms']} false alarms "
            f"({_num(e['false_alarms_per_1000'])}/1,000) |")
    return "\n".join(lines)


def event_table(results: dict[str, dict]) -> str:
    """Where an operator acts: the risk's alerts at the product's level, the best baseline at the
    risk's own false-alarm rate there, and every detector at the same false-alarm budget (1% of the
    normal windows); the thresholds of the comparisons set on the scored normal windows."""
    lines = ["| data set | incidents | risk at its alert level: detected / warned, false alarms per 1,000 normal windows "
             "(counting early alerts), NAB | best baseline at that false-alarm rate: detected / warned "
             "| at 1% false alarms: risk detected / warned, NAB | best baseline at 1%: detected / warned, NAB |",
             "|---|---|---|---|---|---|"]
    for name, result in results.items():
        ew = result["early_warning"]
        e = ew["events"]
        at = {score: next(r for r in rows if r["budget"] == 0.01) for score, rows in ew.get("budgets", {}).items()}
        if not at:
            continue
        risk = at["label_free_risk"]
        best_name, best = _best(ew["baselines"], at)
        same_name, same = _best(ew["baselines"], ew.get("at_alert_rate", {}))
        strict = 1000.0 * e.get("false_alarms_strict", e["false_alarms"]) / max(1, e["normal_targets"])
        same_text = f"{same_name} {same['detected']} / {same['warned']}" if same else "n/a"
        lines.append(f"| {name} | {e['anomalies']} | {e['detected']} / {e['warned']}, {_num(e['false_alarms_per_1000'])} "
                     f"({_num(strict)}), {_num(e['nab'])} | {same_text} "
                     f"| {risk['detected']} / {risk['warned']}, {_num(risk['nab'])} "
                     f"| {best_name} {best['detected']} / {best['warned']}, {_num(best['nab'])} |")
    return "\n".join(lines)


def signal_table(results: dict[str, dict]) -> str:
    """What the model's own signals add where an operator acts: each variant of the risk at its own
    alert level, and at 1% false alarms (`evaluate --ablate-risk`)."""
    variants = ("risk, statistics components only", "risk, all components", "risk, all components, max",
                "risk, model components only", "component surprise_fine alone", "component surprise_coarse alone",
                "component rarity alone")
    lines = ["| data set | " + " | ".join(variants) + " |", "|---|" + "---|" * len(variants),
             ]
    for name, result in results.items():
        ew = result["early_warning"]
        own, budgets = ew.get("ablation_events", {}), ew.get("budgets", {})
        cells = []
        for v in variants:
            if v not in own:
                cells.append("n/a")
                continue
            at = next(r for r in budgets[v] if r["budget"] == 0.01)
            cells.append(f"{own[v]['detected']} / {own[v]['warned']}, {_num(own[v]['false_alarms_per_1000'])}; "
                         f"at 1%: {at['detected']} / {at['warned']}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _best(baselines: list[str], figures: dict) -> tuple[str, dict | None]:
    present = [b for b in baselines if b in figures]
    if not present:
        return "n/a", None
    name = max(present, key=lambda b: (figures[b]["detected"], figures[b]["warned"], figures[b]["nab"]))
    return name, figures[name]


def _pct(value) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}"


def _signed(value) -> str:
    return "n/a" if value is None else f"{100 * value:+.1f}"


def _num(value) -> str:
    return "n/a" if value is None else f"{value:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "early-warning")
    parser.add_argument("--epochs", type=int, default=None, help="default: the default preset's")
    parser.add_argument("--seeds", type=int, default=2, help="seeds of the supervised protocol's head")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--train-arg", action="append", default=[], help="extra `jepawatch train` argument (repeat)")
    parser.add_argument("--fresh", action="store_true")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    results = {name: measure(name, args, args.out) for name in args.datasets.split(",") if name}
    text = table(results) + "\n\n" + event_table(results) + "\n\n" + signal_table(results)
    header = (f"Measured {date.today()} on {cpu_name()}, {os.cpu_count()} cores, "
              f"epochs {args.epochs or 'of the default preset'}, `python benchmarks/early_warning.py {' '.join(sys.argv[1:])}`")
    (args.out / "table.md").write_text(header + "\n\n" + text + "\n")
    (args.out / "results.json").write_text(json.dumps({k: v["early_warning"] for k, v in results.items()}, indent=1) + "\n")
    print(header + "\n\n" + text)


if __name__ == "__main__":
    main()
