"""Cross-domain early warning (the direction of the paper's Table 2): pre-train on other systems, monitor one left out.

For each target, with the user-facing commands only:
- in-domain: `jepawatch train TARGET_TRAIN`, then `evaluate`;
- cross-domain: `jepawatch train A B C` on the other sources (never the target's family), then
  `evaluate --adapt TARGET_TRAIN` (the target's normal training data fits the standardisation, the
  channel mask, the code frequencies and the label-free calibration; the weights stay);
- cross-domain, short stretch: the same with `--adapt-rows ROWS` (a new system's first day);
- cross-domain + fine-tune: `jepawatch train TARGET_TRAIN --init PRETRAINED --epochs FT`, then `evaluate`.

Sources: `demo-seed102` (the demo generator, another seed than the targets'), examples/machine_metrics.csv,
MSL's train part, SKAB's anomaly-free file. Targets: `demo-seed101` (pre-trained on machine_metrics,
MSL, SKAB), `msl` (on demo-seed102, machine_metrics, SKAB), `skab` (on demo-seed102, machine_metrics,
MSL), prepared as in benchmarks/early_warning.py. One window for every model (40 rows, 4 patches),
since a pre-trained model's window is the target's.

    python benchmarks/cross_domain.py                          # every target
    python benchmarks/cross_domain.py --targets demo-seed101 --epochs 2 --out /tmp/xd

Figures: the label-free risk's next-window AUC and normal-context AUC (evaluate's `early_warning`,
whole labelled data), and the supervised head's next-window AUC (the paper's protocol, mean over
`--seeds`). Everything goes to OUT; a result already there is not run again unless --fresh.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from early_warning import SHARED, prepare  # noqa: E402  (the same data sets, prepared the same way)

ROOT = Path(__file__).resolve().parent.parent
TARGETS = ("demo-seed101", "msl", "skab")
FAMILY = {"demo-seed101": "demo", "demo-seed102": "demo", "machine_metrics": "machine_metrics", "msl": "msl", "skab": "skab"}
JW = [sys.executable, "-m", "jepawatch"]  # the command a user runs, from this checkout
WINDOW = ["--set", "model.window=40", "--set", "model.n_patches=4"]


def source_path(name: str, out: Path) -> Path:
    if name == "machine_metrics":
        return ROOT / "examples" / "machine_metrics.csv"
    if name == "skab":
        return SHARED / "skab" / "anomaly-free" / "anomaly-free.csv"
    return prepare(name, out)[0]


def run(cmd: list[str], log: Path) -> tuple[float, str]:
    start = time.perf_counter()
    with open(log, "a") as f:
        f.write("$ " + " ".join(cmd) + "\n")
        f.flush()
        done = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=f, text=True)
    if done.returncode != 0:
        raise SystemExit(f"failed ({done.returncode}): {' '.join(cmd)}; see {log}")
    return time.perf_counter() - start, done.stdout


def figures(result: dict) -> dict:
    whole = result["early_warning"]["scores"]["whole"]["label_free_risk"]
    head = result.get("model_head", {}).get("auc", {}).get("mean")
    return {"next": whole["next"], "normal_context": whole["normal_context"], "head": head}


def measure(target: str, args, out: Path) -> dict:
    result_path = out / f"{target}.json"
    if result_path.exists() and not args.fresh:
        return json.loads(result_path.read_text())
    train, labelled, extra = prepare(target, out)
    log, models = out / f"{target}.log", out / "models"
    epochs = ["--epochs", str(args.epochs)]
    extra = extra + (["--train-data", str(train)] if target == "skab" else [])
    sources = [s for s in ("demo-seed102", "machine_metrics", "msl", "skab") if FAMILY[s] != FAMILY[target]]
    seconds, rows = {}, {}

    def evaluate(name: str, bundle: Path, *adapt: str) -> None:
        cmd = [*JW, "evaluate", str(labelled), "--model", str(bundle), "--seeds", str(args.seeds), "--json",
               *extra, *adapt]
        seconds[f"evaluate {name}"], stdout = run(cmd, log)
        rows[name] = figures(json.loads(stdout))

    pretrained = models / f"pre-{target}"
    seconds["train in-domain"], _ = run([*JW, "train", str(train), "--out", str(models), "--name", target,
                                         *epochs, *WINDOW], log)
    evaluate("in-domain", models / target)
    seconds["pre-train"], _ = run([*JW, "train", *[str(source_path(s, out)) for s in sources], "--out", str(models),
                                   "--name", pretrained.name, *epochs, *WINDOW], log)
    evaluate("cross-domain", pretrained, "--adapt", str(train))
    evaluate(f"cross-domain, first {args.adapt_rows} rows", pretrained, "--adapt", str(train),
             "--adapt-rows", str(args.adapt_rows))
    seconds["fine-tune"], _ = run([*JW, "train", str(train), "--init", str(pretrained), "--out", str(models),
                                   "--name", f"ft-{target}", "--epochs", str(args.fine_tune_epochs), *WINDOW], log)
    evaluate("cross-domain + fine-tune", models / f"ft-{target}")
    result = {"target": target, "pre-trained on": sources, "rows": rows, "seconds": {k: round(v, 1) for k, v in seconds.items()}}
    result_path.write_text(json.dumps(result, indent=1) + "\n")
    return result


def table(results: list[dict]) -> str:
    lines = ["| target | pre-trained on | model | risk: next AUC | risk: normal-context AUC | supervised head: next AUC |",
             "|---|---|---|---|---|---|"]
    for result in results:
        for i, (name, row) in enumerate(result["rows"].items()):
            lines.append(f"| {result['target'] if i == 0 else ''} | {', '.join(result['pre-trained on']) if i == 0 else ''} "
                         f"| {name} | {_pct(row['next'])} | {_pct(row['normal_context'])} | {_pct(row['head'])} |")
    return "\n".join(lines)


def _pct(value) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", default=",".join(TARGETS))
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "cross-domain")
    parser.add_argument("--epochs", type=int, default=3, help="of the in-domain and the pre-trained models")
    parser.add_argument("--fine-tune-epochs", type=int, default=2)
    parser.add_argument("--adapt-rows", type=int, default=2000, help="the short stretch of the target's normal data")
    parser.add_argument("--seeds", type=int, default=1, help="seeds of the supervised protocol's head")
    parser.add_argument("--fresh", action="store_true")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    results = [measure(t, args, args.out) for t in args.targets.split(",") if t]
    header = (f"Measured {date.today()} on {platform.machine()}, {os.cpu_count()} cores, {time.perf_counter() - started:.0f} s, "
              f"`python benchmarks/cross_domain.py {' '.join(sys.argv[1:])}`")
    text = table(results)
    (args.out / "table.md").write_text(header + "\n\n" + text + "\n")
    print(header + "\n\n" + text)


if __name__ == "__main__":
    main()
