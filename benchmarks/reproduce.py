"""Reproduce the paper on MSL: MTS-JEPA, the ablations of Table 3, the Temporal JEPA baseline.

Every row is made with the public API, which is what the commands run: `jepawatch.train(DATA)`
(`jepawatch train`: the paper config, with one ablation switch set per row) and
`jepawatch.evaluate(monitor, DATA, seeds=N)` (`jepawatch evaluate --json`: the paper's downstream
protocol on the test part, with the baselines `evaluate` reports in the same run).
Besides the rows, "probes" evaluate the full model's bundle with another head input
(`evaluate --features`) to find out where the next-window information is.

    python benchmarks/reproduce.py --quick              # tiny model, 2 epochs, 2 seeds: a few minutes on CPU
    python benchmarks/reproduce.py                      # the paper config: 100 epochs per row (hours on CPU)
    python benchmarks/reproduce.py --epochs 10 --variants full,no-kl --bundle full=/path/to/bundle

Bundles, logs and each row's `evaluate` JSON go to --out; a row whose JSON is there is not run
again (delete it, or --fresh). The table is printed as Markdown and written to OUT/table.md,
with everything in OUT/results.json.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import time
from datetime import date
from pathlib import Path

import jepawatch
from jepawatch.bundle import CHECKPOINT
from jepawatch.devices import cpu_name
from jepawatch.kinds import kind_of

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "msl"

# name: (label, model kind, --set overrides). The ablations switch off one component each (Table 3).
VARIANTS = {
    "full": ("MTS-JEPA, full model", "mts-jepa", []),
    "no-kl": ("w/o KL (MSE only)", "mts-jepa", ["model.use_kl=false"]),
    "no-reconstruction": ("w/o Reconstruction", "mts-jepa", ["model.use_reconstruction=false"]),
    "no-prediction": ("w/o Predictive Objective", "mts-jepa", ["model.use_prediction=false"]),
    "no-codebook-loss": ("w/o Codebook Loss", "mts-jepa", ["model.use_codebook_losses=false"]),
    "no-codebook": ("w/o Codebook Module", "mts-jepa", ["model.use_codebook=false"]),
    "no-downsample": ("w/o Downsample", "mts-jepa", ["model.use_coarse=false"]),
    # seed 002's card, with the protocol's window (T_w = 100) as its sequence length
    "temporal-jepa": ("Temporal JEPA (seed 002)", "temporal-jepa", ["model.seq_len=100"]),
    # not the paper: RevIN without its per-window statistics, so the encoder sees level and scale
    "no-revin-stats": ("ours: RevIN without per-window mean/std", "mts-jepa", ["model.revin_per_window=false"]),
}
# Head inputs tried on the full model's bundle besides the paper's (evaluate --features).
PROBES = ("codes-mean", "latent", "codes+stats")

# The paper's MSL figures (F1 mean, std, AUC mean, std): Table 8 (ablations, full model) and
# Table 1 (TS-JEPA, no std given).
PAPER_MSL = {
    "full": (33.58, 4.34, 66.08, 3.25),
    "no-kl": (29.01, 6.64, 53.90, 5.25),
    "no-reconstruction": (25.96, 1.82, 52.68, 1.68),
    "no-prediction": (28.88, 6.41, 53.17, 1.03),
    "no-codebook-loss": (31.62, 1.71, 58.93, 1.81),
    "no-codebook": (21.82, 0.00, 43.02, 9.30),
    "no-downsample": (28.77, 6.95, 63.16, 3.83),
    "temporal-jepa": (25.49, None, 60.33, None),
}

# --quick: small enough that all rows and probes run in a few minutes on 2 CPU cores.
QUICK_MTS = ["model.d_model=32", "model.codebook_size=16", "model.encoder_layers=1", "model.encoder_heads=2",
             "model.predictor_layers=1", "model.predictor_heads=2", "model.predictor_hidden=32",
             "model.tokenizer_channels=8", "model.projection_hidden=16,16", "model.decoder_hidden=32"]
QUICK_TEMPORAL = ["model.embed_dim=32", "model.predictor_embed_dim=16", "model.encoder_depth=1", "model.num_heads=2"]
QUICK = {"mts-jepa": QUICK_MTS, "temporal-jepa": QUICK_TEMPORAL}


class _Log:
    """Where a row's warnings go: one line each in its log file."""

    def __init__(self, path: Path):
        self.path = path

    def __call__(self, message: str) -> None:
        with open(self.path, "a") as out:
            out.write(f"warning: {message}\n")


def train(args, name: str, kind: str, overrides: list[str], models: Path, logs: Path) -> dict:
    bundle = models / name
    if name in args.bundle:
        return {"bundle": args.bundle[name], "trained_here": False}
    record = args.out / f"{name}.train.json"
    if (bundle / "weights.safetensors").exists() and not args.fresh:
        earlier = json.loads(record.read_text()) if record.exists() else {}
        return {"bundle": str(bundle), "trained_here": False, "train_seconds": earlier.get("train_seconds")}
    if args.quick:
        overrides = overrides + QUICK[kind]
    interrupted = (bundle / CHECKPOINT).exists() and not args.fresh  # continue an interrupted run of this row
    call = {"data": str(args.data), "out": str(models), "name": name, "model": kind, "device": args.device,
            "seed": args.seed, "preset": "paper" if kind_of(kind).takes_presets else None, "resume": interrupted,
            "epochs": args.epochs, "settings": overrides + args.set}
    start = time.perf_counter()
    try:
        jepawatch.train(call["data"], **{k: v for k, v in call.items() if k != "data"},
                        warn=_Log(logs / f"{name}.train.log"))
    except jepawatch.JepawatchError as exc:
        raise SystemExit(f"training {name} failed: {exc}") from None
    seconds = time.perf_counter() - start
    record.write_text(json.dumps({"train_seconds": round(seconds, 1), "call": call}))
    return {"bundle": str(bundle), "trained_here": True, "train_seconds": round(seconds, 1)}


def evaluate(args, bundle: str, key: str, logs: Path, out: Path, features: str | None = None) -> dict:
    result_file = out / f"{key}.eval.json"
    if result_file.exists() and not args.fresh:
        return json.loads(result_file.read_text())
    log = logs / f"{key}.eval.log"
    log.unlink(missing_ok=True)
    start = time.perf_counter()
    try:
        report = jepawatch.evaluate(jepawatch.load(bundle, device=args.device), args.data, seeds=args.seeds,
                                    features=features, warn=_Log(log))
    except jepawatch.JepawatchError as exc:
        raise SystemExit(f"evaluating {key} failed: {exc}") from None
    result = _finite(report.to_dict())
    result["eval_seconds"] = round(time.perf_counter() - start, 1)
    tmp = result_file.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=1))
    tmp.replace(result_file)
    return result


def _finite(value):
    """JSON has no NaN: null, as `evaluate --json` writes it."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def training_record(bundle: str) -> dict:
    history = json.loads((Path(bundle) / "history.json").read_text())
    epochs = history["epochs"]
    selected = next((e for e in epochs if e["epoch"] == history.get("selected_epoch")), epochs[-1])
    return {"epochs_run": epochs[-1]["epoch"], "selected_epoch": history.get("selected_epoch"),
            "code_perplexity": selected.get("code_perplexity"), "codes_used": selected.get("codes_used")}


def pm(stat: dict | None) -> str:
    if not stat or stat.get("mean") is None:
        return "n/a"
    return f"{100 * stat['mean']:.2f} ± {100 * stat['std']:.2f}"


def pct(value) -> str:
    return "n/a" if value is None else f"{100 * value:.2f}"


def interval(head: dict) -> str:
    low, high = head.get("auc_low95"), head.get("auc_high95")
    if not low or low.get("mean") is None:
        return "—"
    return f"{100 * low['mean']:.1f}–{100 * high['mean']:.1f}"


def paper(name: str) -> str:
    f1, f1_std, auc, auc_std = PAPER_MSL.get(name, (None,) * 4)
    if f1 is None:
        return "—"
    return f"{f1:.2f}{'' if f1_std is None else f' ± {f1_std:.2f}'} / {auc:.2f}{'' if auc_std is None else f' ± {auc_std:.2f}'}"


def table(rows: list[dict], baseline: dict) -> str:
    lines = [
        "| row | paper F1 / AUC | F1 | precision | recall | AUC | AUC 95% (bootstrap) | AUPRC | AUC y_t=0 | warned (lead steps) | label-free AUC | epochs (selected) | code ppl |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        r, head, t = row["result"], row["result"]["model_head"], row.get("training", {})
        warned = f"{head['warned']['mean']:.1f}/{head['segments']['mean']:.0f} ({head['mean_lead_steps']['mean']:.0f})" \
            if head["warned"]["mean"] is not None and head["mean_lead_steps"]["mean"] is not None else "n/a"
        ppl = t.get("code_perplexity")
        lines.append(
            f"| {row['label']} | {paper(row['name'])} | {pm(head['f1'])} | {pm(head['precision'])} | {pm(head['recall'])} | "
            f"**{pm(head['auc'])}** | {interval(head)} | {pm(head['auprc'])} | {pm(head['auc_normal_context'])} | {warned} | "
            f"{pct(r['label_free_auc'])} | {t.get('epochs_run', '—')} ({t.get('selected_epoch', '—')}) | "
            f"{'—' if ppl is None else f'{ppl:.1f}'} |")
    raw = baseline["raw_stats_head"]
    lines.append(f"| same head on raw window statistics (baseline, same run) | — | {pm(raw['f1'])} | {pm(raw['precision'])} | "
                 f"{pm(raw['recall'])} | **{pm(raw['auc'])}** | {interval(raw)} | {pm(raw['auprc'])} | {pm(raw['auc_normal_context'])} | "
                 f"{raw['warned']['mean']:.1f}/{raw['segments']['mean']:.0f} ({raw['mean_lead_steps']['mean']:.0f}) | | | |")
    lines.append(f"| always positive | — | {pct(baseline['always_positive_f1'])} | {pct(baseline['base_rate'])} | 100.00 | "
                 f"50.00 | | {pct(baseline['base_rate'])} | | | | | |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="MSL folder (default ../shared/data/msl)")
    parser.add_argument("--out", type=Path, default=None, help="default benchmarks/results/reproduce[-quick]")
    parser.add_argument("--quick", action="store_true", help="tiny model, 2 epochs, 2 seeds: a check that runs in minutes")
    parser.add_argument("--epochs", type=int, default=None, help="maximum epochs per row (default: the paper's 100)")
    parser.add_argument("--seeds", type=int, default=None, help="head seeds per evaluation (default 5; --quick 2)")
    parser.add_argument("--seed", type=int, default=0, help="pre-training seed")
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated rows: " + ", ".join(VARIANTS))
    parser.add_argument("--probes", default=",".join(PROBES), help="head inputs tried on the full bundle ('' for none)")
    parser.add_argument("--set", action="append", default=[], help="extra `train --set` for every row (repeatable)")
    parser.add_argument("--bundle", action="append", default=[], help="NAME=DIR: use this trained bundle for row NAME")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--fresh", action="store_true", help="train and evaluate again even when results exist")
    args = parser.parse_args()
    if args.quick:
        args.epochs = args.epochs or 2
        args.seeds = args.seeds or 2
    args.seeds = args.seeds or 5
    args.out = args.out or ROOT / "benchmarks" / "results" / ("reproduce-quick" if args.quick else "reproduce")
    args.bundle = dict(item.split("=", 1) for item in args.bundle)
    names = [n for n in args.variants.split(",") if n]
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        raise SystemExit(f"unknown variant(s) {', '.join(unknown)}; choose from {', '.join(VARIANTS)}")
    if not args.data.exists():
        raise SystemExit(f"{args.data} does not exist; give --data (the MSL folder: MSL_train.npy, MSL_test.npy, labels)")
    models, logs = args.out / "models", args.out / "logs"
    if args.fresh and args.out.exists():
        shutil.rmtree(args.out)
    models.mkdir(parents=True, exist_ok=True)
    logs.mkdir(parents=True, exist_ok=True)

    started = time.perf_counter()
    header = (f"reproduce.py on {args.data.name}, {date.today()}, {cpu_name()}, "
              f"{os.cpu_count()} CPUs, device {args.device}; epochs {args.epochs or 'paper (100)'}, seeds {args.seeds}"
              f"{', QUICK (tiny model)' if args.quick else ''}{', extra: ' + ' '.join(args.set) if args.set else ''}")
    print(header, flush=True)
    rows = []
    for name in names:
        label, kind, overrides = VARIANTS[name]
        trained = train(args, name, kind, overrides, models, logs)
        result = evaluate(args, trained["bundle"], name, logs, args.out)
        rows.append({"name": name, "label": label, "result": result,
                     "training": {**trained, **training_record(trained["bundle"])}})
        head = result["model_head"]
        print(f"{name:<18} F1 {pm(head['f1']):>15}  AUC {pm(head['auc']):>15}  "
              f"(train {trained.get('train_seconds', 'reused')} s, evaluate {result.get('eval_seconds', 'reused')} s)", flush=True)
    full = next((row for row in rows if row["name"] == "full"), None)
    for probe in [p for p in args.probes.split(",") if p] if full else []:
        result = evaluate(args, full["training"]["bundle"], f"full.{probe}", logs, args.out, features=probe)
        rows.append({"name": f"full.{probe}", "label": f"full model, head on {probe}", "result": result,
                     "training": full["training"]})
        head = result["model_head"]
        print(f"{'full.' + probe:<18} F1 {pm(head['f1']):>15}  AUC {pm(head['auc']):>15}", flush=True)

    baseline = (full or rows[0])["result"]
    spent = sum((row["training"].get("train_seconds") or 0) + (row["result"].get("eval_seconds") or 0) for row in rows)
    markdown = (f"{header}\n\n{table(rows, baseline)}\n\ntraining and evaluation recorded for these rows: {spent / 60:.0f} min "
                f"(this invocation: {(time.perf_counter() - started) / 60:.0f} min)\n")
    print("\n" + markdown)
    (args.out / "table.md").write_text(markdown)
    (args.out / "results.json").write_text(json.dumps({"header": header, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
