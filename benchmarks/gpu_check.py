"""One command that proves the GPU path, with every figure left in files.

    python benchmarks/gpu_check.py            # the paper and default presets (7 min on 2 CPU cores; no GPU run yet)
    python benchmarks/gpu_check.py --quick    # fewer steps and repeats, for a short GPU lease
    python benchmarks/gpu_check.py --full     # also the paper's 100-epoch MSL run + evaluate --seeds 5

What it runs, each part on its own (a part that fails is recorded with its error and the rest runs):
- the environment: GPU name and memory, torch and its CUDA build, ONNX Runtime and its providers;
- training: a fixed number of optimiser steps of the paper-size MTS-JEPA (`--preset paper`) and of
  the default preset on MSL's training part (`--data`, default ../shared/data/msl; a generated
  stand-in of MSL's shape, 58,317 rows x 55 channels with 22 constant, when that is absent), on the
  GPU with bf16 autocast (AMP) and without, and the same steps on the CPU for the ratio: step time,
  channel-windows per second, peak GPU memory, the loss finite and falling. The steps are the
  product's own (`Trainer.train_step`: forward, backward, clip, Adam, EMA);
- `torchrun --nproc-per-node N -m jepawatch train` with N the GPUs present (one GPU: a process
  group of one, so DDP's code path runs);
- scoring: a one-epoch bundle of each preset, exported to ONNX, run by PyTorch and ONNX Runtime on
  the GPU (ONNX Runtime's CUDA provider when onnxruntime-gpu is installed) and on the CPU at batch 1
  and 256 (latency and windows/s); the risk of every window of the test part scored on each
  equals the CPU's within 1e-3; what `--device auto` and `--backend auto` pick there, and whether
  that is the faster choice at each batch size;
- `--full`: `jepawatch train` of MSL with `--preset paper` (100 epochs) and `evaluate --seeds 5`,
  beside the paper's Table 1 figures.

Everything goes to `benchmarks/results/gpu/<date>-<gpu>.json` (written again after every part, so
a run cut short keeps what it measured) and a Markdown table beside it (`.md`, also printed) to
paste into BENCHMARKS.md. On a machine without a GPU it says so in one line and runs the CPU rows.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import math
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import torch

import jepawatch
from jepawatch.adapters import ReadOptions, read_dataset
from jepawatch.bundle import load_bundle
from jepawatch.config_sources import resolve_config
from jepawatch.data.windows import segment_pairs, split_segments
from jepawatch.devices import cpu_name
from jepawatch.scoring.backends import make_backend
from jepawatch.jobs.train import read_sources
from jepawatch.training.loop import Trainer

RESULTS = Path(__file__).resolve().parent / "results" / "gpu"
DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "msl"
MSL_SHAPE = (58317, 55, 22)  # rows, channels, constant channels of MSL's training part
RISK_TOLERANCE = 1e-3
# MTS-JEPA on MSL, the paper's Table 1 (%, mean +- std over 5 seeds)
PAPER_MSL = {"f1": (33.58, 4.34), "precision": (35.87, 10.90), "recall": (40.80, 15.68), "auc": (66.08, 3.25)}


def quiet(message: str) -> None:
    pass


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# -- the environment ------------------------------------------------------------------------------
def environment() -> dict:
    from jepawatch.onnx_runtime import import_onnxruntime, installed

    ort = import_onnxruntime() if installed() else None
    gpus = [{"name": torch.cuda.get_device_name(i),
             "memory_gib": round(torch.cuda.get_device_properties(i).total_memory / 2**30, 1),
             "capability": ".".join(map(str, torch.cuda.get_device_capability(i)))}
            for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else []
    packages = {}
    for name in ("onnxruntime", "onnxruntime-gpu"):
        try:
            packages[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return {"date": date.today().isoformat(), "cpu": cpu_name(),
            "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(), "python": platform.python_version(),
            "torch": torch.__version__, "torch_cuda": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version() if torch.cuda.is_available() else None,
            "gpus": gpus, "onnxruntime": ort.__version__ if ort else None, "onnxruntime_packages": packages,
            "onnxruntime_providers": ort.get_available_providers() if ort else [], "jepawatch": jepawatch.__version__}


# -- the data --------------------------------------------------------------------------------------
def stand_in(root: Path, rows: int) -> tuple[Path, pd.DataFrame]:
    """A generated stand-in of MSL's shape: 55 channels, 22 constant, seasonal with noise and steps;
    the training file and a test frame of the same channels (a third as long again)."""
    _, channels, constant = MSL_SHAPE
    rng = np.random.default_rng(0)

    def frame(n: int, offset: int) -> pd.DataFrame:
        t = np.arange(offset, offset + n)[:, None]
        periods = rng.uniform(20, 400, channels)
        values = np.sin(2 * np.pi * t / periods) + 0.3 * rng.standard_normal((n, channels))
        values[:, :constant] = 1.0  # constant on training, as MSL's flags
        return pd.DataFrame(values.astype(np.float32), columns=[f"c{i:02d}" for i in range(channels)])

    path = root / "msl_stand_in.parquet"
    frame(rows, 0).to_parquet(path)
    return path, frame(max(rows // 3, 1000), rows)


def training_data(data: Path | None, root: Path, stand_in_rows: int) -> dict:
    """The training source (MSL's directory, or the stand-in written under `root`) and a test frame."""
    if data is not None and (data / "MSL_train.npy").exists():
        test = read_dataset(data, None, ReadOptions()).part("test")
        frame = pd.DataFrame(test.values, columns=test.channels)
        return {"path": data, "name": "MSL", "test": frame, "real": True}
    path, frame = stand_in(root, stand_in_rows)
    return {"path": path, "name": f"stand-in of MSL's shape ({stand_in_rows} rows x {MSL_SHAPE[1]} channels)",
            "test": frame, "real": False}


def training_samples(path: Path, preset: str):
    """The training samples `jepawatch train` builds for `preset` (same reading, split and pairs)."""
    run = resolve_config("mts-jepa", preset=preset)
    source = read_sources([path], None, ReadOptions(), warn=quiet)[0]
    run.kind.set_channels(run.model, source.preprocess.n_kept)
    segments = split_segments(source.parts(0), run.model.window, run.train.val_fraction)
    pairs = segment_pairs(segments, run.model.window, run.train.stride or run.model.window)
    return run, run.kind.samples(pairs)


# -- training ---------------------------------------------------------------------------------------
def train_steps(preset: str, run, samples, device: torch.device, amp: bool, steps: int, warmup: int) -> dict:
    """`steps` timed optimiser steps after `warmup` untimed ones, on the product's own Trainer."""
    run.train.amp = amp
    torch.manual_seed(0)
    model = run.kind.build(run.model)
    trainer = Trainer(run.kind, model, run.train, samples, None, device)
    trainer.model.train()
    lam = trainer.lambda_rec(0)  # one objective for every step, so the losses compare

    def batches():
        epoch = 1
        while True:
            yield from trainer.training_batches(epoch)
            epoch += 1

    feed = batches()
    losses = []
    for _ in range(warmup):
        losses.append(trainer.train_step(next(feed), lam)["total"])
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        losses.append(trainer.train_step(next(feed), lam)["total"])
    sync(device)
    seconds = (time.perf_counter() - start) / steps
    third = max(1, len(losses) // 3)
    first, last = statistics.fmean(losses[:third]), statistics.fmean(losses[-third:])
    return {"preset": preset, "device": str(device), "amp": bool(amp and device.type == "cuda"),
            "batch": run.train.batch_size, "steps": steps, "step_ms": seconds * 1e3,
            "channel_windows_per_s": run.train.batch_size / seconds,
            "peak_gpu_mib": torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None,
            "loss_first": first, "loss_last": last, "loss_finite": all(math.isfinite(v) for v in losses),
            "loss_falling": last < first}


def training(data: dict, presets: list[str], gpu: torch.device | None, steps: tuple[int, int]) -> list[dict]:
    gpu_steps, cpu_steps = steps
    rows = []
    for preset in presets:
        run, samples = training_samples(data["path"], preset)
        cpu = train_steps(preset, run, samples, torch.device("cpu"), False, cpu_steps, 1)
        rows.append(cpu)
        print(_training_line(cpu), flush=True)
        for amp in ((True, False) if gpu is not None else ()):
            row = train_steps(preset, run, samples, gpu, amp, gpu_steps, 3)
            row["speedup_vs_cpu"] = cpu["step_ms"] / row["step_ms"]
            rows.append(row)
            print(_training_line(row), flush=True)
    return rows


def _training_line(row: dict) -> str:
    return (f"  train {row['preset']:6} {row['device']:7} amp={str(row['amp']):5} {row['step_ms']:8.1f} ms/step "
            f"{row['channel_windows_per_s']:9.0f} channel-windows/s  loss {row['loss_first']:.3f} -> {row['loss_last']:.3f}")


# -- torchrun ---------------------------------------------------------------------------------------
def distributed(data: dict, root: Path, gpu: torch.device | None) -> dict:
    """`torchrun --nproc-per-node N -m jepawatch train` for one epoch of the default preset."""
    nproc = max(1, torch.cuda.device_count()) if gpu is not None else 1
    device = "cuda" if gpu is not None else "cpu"
    out = root / "ddp-models"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(nproc), "--master-port",
           str(29600 + os.getpid() % 300), "-m", "jepawatch", "train", str(data["path"]), "--epochs", "1",
           "--device", device, "--out", str(out), "--name", "ddp"]
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    seconds = time.perf_counter() - start
    row = {"processes": nproc, "device": device, "backend": "nccl" if gpu is not None else "gloo",
           "returncode": done.returncode, "seconds": seconds}
    if done.returncode != 0:
        row["error"] = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        return row
    bundle = load_bundle(out / "ddp")
    row["epochs_trained"] = len(bundle.history["epochs"])
    row["val_loss"] = bundle.history["epochs"][-1]["val_loss"]
    print(f"  torchrun {nproc} process(es) on {device}: 1 epoch in {seconds:.1f} s, bundle written", flush=True)
    return row


# -- scoring ----------------------------------------------------------------------------------------
def scoring(data: dict, root: Path, presets: list[str], gpu: torch.device | None, repeats: tuple[int, int],
            test_windows: int | None) -> list[dict]:
    results = []
    for preset in presets:
        start = time.perf_counter()
        monitor = jepawatch.train(data["path"], epochs=1, preset=preset, out=root / "models", name=f"score-{preset}",
                                  device="cuda" if gpu is not None else "cpu", warn=quiet)
        train_seconds = time.perf_counter() - start
        start = time.perf_counter()
        try:
            monitor.export_onnx()
        except Exception as exc:  # no ONNX Runtime, or an exporter failure: the PyTorch rows still run
            print(f"  export failed ({type(exc).__name__}: {exc}); the onnx rows will say so", flush=True)
        export_seconds = time.perf_counter() - start
        results.append({"preset": preset, "train_one_epoch_s": train_seconds, "export_s": export_seconds,
                        **score_bundle(monitor.path, data["test"], gpu, repeats, test_windows)})
    return results


def score_bundle(path: Path, test: pd.DataFrame, gpu: torch.device | None, repeats: tuple[int, int],
                 test_windows: int | None) -> dict:
    from jepawatch.devices import resolve_device
    from jepawatch.scoring.scorer import Scorer, ScoreSettings

    bundle = load_bundle(path)
    window = bundle.run.model.window
    frame = test if test_windows is None else test.iloc[: window * test_windows]
    series = bundle.preprocess.transform(frame.to_numpy(np.float64), list(frame.columns))
    windows = np.stack([series[i:i + window] for i in range(0, len(series) - window + 1, window)]).astype(np.float32)
    devices = [torch.device("cpu")] + ([gpu] if gpu is not None else [])
    candidates = [(name, device) for device in devices for name in ("torch", "onnx")]
    rows, reference = [], None
    for name, device in candidates:
        row = {"backend": name, "device": str(device)}
        try:
            fresh = load_bundle(path)
            fresh.model.to(device).eval()
            backend = make_backend(name, fresh, device)
            row["provider"] = backend.provider
            row |= time_backend(backend, windows, device, repeats)
            scored = jepawatch.Monitor(path, device=str(device)).score(frame, backend=name, warn=quiet)
            risk = scored["next_window_risk"].to_numpy()
            if reference is None:
                reference = scored
                row["max_risk_diff_vs_cpu"] = 0.0
            else:
                row["max_risk_diff_vs_cpu"] = float(np.abs(risk - reference["next_window_risk"].to_numpy()).max())
                row["regimes_equal"] = float((scored["regime"] == reference["regime"]).mean())
            row["windows_scored"] = len(scored)
            row["risk_within_tolerance"] = row["max_risk_diff_vs_cpu"] <= RISK_TOLERANCE
        except Exception as exc:  # one backend failing (no CUDA provider, say) leaves the others
            row["error"] = f"{type(exc).__name__}: {exc}"
        rows.append(row)
        print(_scoring_line(row), flush=True)
    auto_device = resolve_device("auto")
    fresh = load_bundle(path)
    fresh.model.to(auto_device).eval()
    auto = Scorer(fresh, auto_device, ScoreSettings(backend="auto")).backend
    auto_row = {"device": str(auto_device), "provider": auto.provider, **time_backend(auto, windows, auto_device, repeats)}
    timed = [r for r in rows if "error" not in r]
    for batch in (1, 256):
        key = f"batch{batch}_ms"
        fastest = min(timed, key=lambda r: r[key])
        chosen = auto_choice(auto, batch)
        ran = next((r for r in timed if (r["backend"], torch.device(r["device"]).type) == chosen), None)
        auto_row[f"choice_at_{batch}"] = f"{chosen[0]} on {chosen[1]}"
        auto_row[f"fastest_at_{batch}"] = f"{fastest['backend']} on {fastest['device']}"
        # the faster choice: the fastest candidate, or one within 10% of it (timing noise)
        auto_row[f"auto_is_fastest_at_{batch}"] = ran is not None and ran[key] <= 1.10 * fastest[key]
    print(f"  auto ({auto.provider}): batch 1 {auto_row['choice_at_1']} (fastest: {auto_row['fastest_at_1']}), "
          f"batch 256 {auto_row['choice_at_256']} (fastest: {auto_row['fastest_at_256']})", flush=True)
    return {"window": window, "channels": bundle.preprocess.n_kept, "backends": rows, "auto": auto_row}


def auto_choice(backend, batch: int) -> tuple[str, str]:
    """(backend, device type) of the candidate that `auto` runs a batch of `batch` windows on."""
    from jepawatch.scoring.backends import SMALL_BATCH, SizeSplitBackend

    if isinstance(backend, SizeSplitBackend):
        backend = backend.small if batch < SMALL_BATCH else backend.large
    return backend.name, backend.device.type


def time_backend(backend, windows: np.ndarray, device: torch.device, repeats: tuple[int, int]) -> dict:
    """Median latency of one call of the network at batch 1 and 256 (outputs on the host, as scoring needs)."""
    out = {}
    for batch, repeat in zip((1, 256), repeats):
        chunk = np.resize(windows, (batch, *windows.shape[1:])) if len(windows) < batch else windows[:batch]
        times = []
        for i in range(repeat + 2):
            sync(device)
            start = time.perf_counter()
            result = backend.outputs(chunk if batch > 1 else windows[i % len(windows)][None])
            result.codes.cpu()
            sync(device)
            times.append(time.perf_counter() - start)
        median = statistics.median(times[2:])
        out[f"batch{batch}_ms"] = median * 1e3
        out[f"batch{batch}_windows_per_s"] = batch / median
    return out


def _scoring_line(row: dict) -> str:
    if "error" in row:
        return f"  score {row['backend']:5} {row['device']:7} failed: {row['error']}"
    return (f"  score {row['backend']:5} {row['device']:7} batch 1 {row['batch1_ms']:7.2f} ms, batch 256 "
            f"{row['batch256_ms']:8.1f} ms ({row['batch256_windows_per_s']:7.0f} windows/s), "
            f"max |risk - cpu| {row['max_risk_diff_vs_cpu']:.1e}  [{row['provider']}]")


# -- the paper's full run ------------------------------------------------------------------------------
def full_run(data: dict, root: Path, gpu: torch.device | None) -> dict:
    if not data["real"]:
        return {"skipped": "--full needs MSL (--data DIR with MSL_train.npy, MSL_test.npy, MSL_test_label.npy)"}
    start = time.perf_counter()
    monitor = jepawatch.train(data["path"], preset="paper", out=root / "models", name="msl-paper",
                              device="cuda" if gpu is not None else "cpu", warn=quiet)
    train_seconds = time.perf_counter() - start
    history = monitor.bundle.history
    start = time.perf_counter()
    report = jepawatch.evaluate(monitor, data["path"], seeds=5, warn=quiet).to_dict()
    head = report.get("model_head", {})
    return {"train_s": train_seconds, "evaluate_s": time.perf_counter() - start,
            "epochs_run": len(history["epochs"]), "selected_epoch": history["selected_epoch"],
            "model_head": {k: head[k] for k in ("f1", "precision", "recall", "auc") if k in head},
            "label_free_auc": report.get("label_free_auc"), "paper": PAPER_MSL, "evaluation": report}


# -- the files ---------------------------------------------------------------------------------------
def markdown(results: dict) -> str:
    env = results["environment"]
    gpu = env["gpus"][0]["name"] if env["gpus"] else "no GPU"
    lines = [f"`python benchmarks/gpu_check.py{results['arguments']}` — {env['date']}, {gpu}"
             f"{' (%.0f GiB)' % env['gpus'][0]['memory_gib'] if env['gpus'] else ''}, CPU {env['cpu']}, {env['cpu_count']} CPUs, "
             f"torch {env['torch']} (CUDA {env['torch_cuda']}), onnxruntime {env['onnxruntime']} "
             f"({', '.join(env['onnxruntime_providers'])}); data: {results.get('data', '?')}", ""]
    if results.get("training"):
        lines += ["| preset | device | AMP (bf16) | batch | ms / step | channel-windows / s | peak GPU MiB | "
                  "loss first → last third | × CPU |", "|---|---|---|---|---|---|---|---|---|"]
        for r in results["training"]:
            peak = f"{r['peak_gpu_mib']:.0f}" if r["peak_gpu_mib"] is not None else "—"
            ratio = f"{r['speedup_vs_cpu']:.1f}×" if "speedup_vs_cpu" in r else "—"
            lines.append(f"| {r['preset']} | {r['device']} | {'yes' if r['amp'] else 'no'} | {r['batch']} | "
                         f"{r['step_ms']:.1f} | {r['channel_windows_per_s']:.0f} | {peak} | "
                         f"{r['loss_first']:.3f} → {r['loss_last']:.3f}{'' if r['loss_finite'] else ' (not finite)'} | {ratio} |")
        lines.append("")
    ddp = results.get("distributed")
    if ddp:
        lines += [f"torchrun, {ddp.get('processes')} process(es), {ddp.get('backend')}: "
                  + (f"1 epoch of the default preset in {ddp['seconds']:.1f} s (process start included), bundle written"
                     if ddp.get("returncode") == 0 else f"failed: {ddp.get('error')}"), ""]
    for bundle in results.get("scoring") or []:
        lines += [f"Scoring, `{bundle['preset']}` bundle (window {bundle['window']}, {bundle['channels']} channels; "
                  f"one epoch trained in {bundle['train_one_epoch_s']:.1f} s, exported in {bundle['export_s']:.1f} s):", "",
                  "| backend | device | runs on | batch 1 ms | batch 1 windows/s | batch 256 ms | batch 256 windows/s | "
                  "max \\|risk − CPU torch\\| |", "|---|---|---|---|---|---|---|---|"]
        for r in bundle["backends"]:
            if "error" in r:
                lines.append(f"| {r['backend']} | {r['device']} | failed: {r['error']} | | | | | |")
                continue
            lines.append(f"| {r['backend']} | {r['device']} | {r['provider']} | {r['batch1_ms']:.2f} | "
                         f"{r['batch1_windows_per_s']:.0f} | {r['batch256_ms']:.1f} | {r['batch256_windows_per_s']:.0f} | "
                         f"{r['max_risk_diff_vs_cpu']:.1e} ({r['windows_scored']} windows) |")
        a = bundle["auto"]
        lines += ["", f"`--device auto --backend auto` → {a['provider']}: batch 1 {a['batch1_ms']:.2f} ms "
                  f"({'the fastest' if a['auto_is_fastest_at_1'] else 'not the fastest: ' + a['fastest_at_1']}), "
                  f"batch 256 {a['batch256_ms']:.1f} ms "
                  f"({'the fastest' if a['auto_is_fastest_at_256'] else 'not the fastest: ' + a['fastest_at_256']})", ""]
    full = results.get("full")
    if full and "model_head" in full:
        head = full["model_head"]
        lines += [f"Paper run on MSL: {full['epochs_run']} epochs (selected {full['selected_epoch']}) in "
                  f"{full['train_s'] / 60:.1f} min, evaluate --seeds 5 in {full['evaluate_s']:.0f} s", "",
                  "| | F1 | precision | recall | AUC |", "|---|---|---|---|---|",
                  "| paper, Table 1 | " + " | ".join(f"{m:.2f} ± {s:.2f}" for m, s in PAPER_MSL.values()) + " |",
                  "| this run, model head | " + " | ".join(_pct(head.get(k)) for k in PAPER_MSL) + " |", ""]
    elif full:
        lines += [f"Paper run: {full.get('skipped') or full.get('error')}", ""]
    for part, error in results.get("errors", {}).items():
        lines.append(f"- {part} failed: {error}")
    return "\n".join(lines) + "\n"


def _pct(stat) -> str:
    if isinstance(stat, dict) and "mean" in stat:
        return f"{100 * stat['mean']:.2f} ± {100 * stat.get('std', 0.0):.2f}"
    return "—"


def write(results: dict, json_path: Path) -> None:
    json_path.parent.mkdir(parents=True, exist_ok=True)
    for path, text in ((json_path, json.dumps(results, indent=1, default=str)), (json_path.with_suffix(".md"), markdown(results))):
        staged = path.with_name(path.name + ".part")
        staged.write_text(text)
        staged.replace(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps and repeats, for a short GPU lease")
    parser.add_argument("--full", action="store_true", help="also the paper's 100-epoch MSL run and evaluate --seeds 5")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="MSL's directory (default ../shared/data/msl)")
    parser.add_argument("--out-dir", type=Path, default=RESULTS)
    parser.add_argument("--presets", default="paper,watch", help="comma-separated presets to train and score")
    parser.add_argument("--stand-in-rows", type=int, default=MSL_SHAPE[0], help="rows of the stand-in when MSL is absent")
    parser.add_argument("--test-windows", type=int, default=None, help="score only this many test windows")
    parser.add_argument("--parts", default="training,distributed,scoring",
                        help="comma-separated parts to run (a rerun of the ones that failed); --full adds full")
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cuda or cpu (CPU rows only)")
    args = parser.parse_args(argv)
    presets = [p.strip() for p in args.presets.split(",") if p.strip()]
    gpu = None
    if args.device != "cpu" and torch.cuda.is_available():
        gpu = torch.device("cuda", 0) if args.device == "auto" else torch.device(args.device)
    elif args.device.startswith("cuda"):
        print(f"--device {args.device}: no CUDA GPU is available here", file=sys.stderr)
        return 2
    if gpu is None:
        print("no CUDA GPU here: running the CPU rows only")
    gpu_steps, cpu_steps = (20, 3) if args.quick else (50, 10)
    repeats = (10, 2) if args.quick else (50, 5)

    results: dict = {"arguments": "".join(f" {a}" for a in (argv if argv is not None else sys.argv[1:])), "errors": {}}
    results["environment"] = environment()
    env = results["environment"]
    slug = re.sub(r"[^a-z0-9]+", "-", (env["gpus"][0]["name"] if gpu is not None else "cpu").lower()).strip("-")
    json_path = args.out_dir / f"{env['date']}-{slug}.json"
    print(f"{json_path}: {env['gpus'][0]['name'] if gpu is not None else 'CPU'}, torch {env['torch']}, "
          f"onnxruntime {env['onnxruntime']} {env['onnxruntime_providers']}", flush=True)
    root = Path(tempfile.mkdtemp(prefix="gpu-check-"))
    data = training_data(args.data, root, args.stand_in_rows)
    results["data"] = data["name"]
    write(results, json_path)

    parts = [("training", lambda: training(data, presets, gpu, (gpu_steps, cpu_steps))),
             ("distributed", lambda: distributed(data, root, gpu)),
             ("scoring", lambda: scoring(data, root, presets, gpu, repeats, args.test_windows))]
    parts.append(("full", lambda: full_run(data, root, gpu)))
    wanted = {p.strip() for p in args.parts.split(",")} | ({"full"} if args.full else set())
    parts = [(name, run) for name, run in parts if name in wanted]
    for name, run in parts:
        print(f"{name} ...", flush=True)
        start = time.perf_counter()
        try:
            results[name] = run()
        except Exception as exc:  # a part that fails is written down; the next part still runs
            results["errors"][name] = f"{type(exc).__name__}: {exc}"
            results.setdefault("tracebacks", {})[name] = traceback.format_exc()
            print(f"  {name} failed: {type(exc).__name__}: {exc}", flush=True)
        results.setdefault("seconds", {})[name] = time.perf_counter() - start
        write(results, json_path)
    print()
    print(markdown(results))
    print(f"written: {json_path} and {json_path.with_suffix('.md')}")
    return 1 if results["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
