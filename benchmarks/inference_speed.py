"""Inference speed of one bundle: PyTorch eager vs ONNX Runtime, same graph, same run.

The work timed is the exported inference path (`export.onnx_export.InferenceGraph`: raw window
-> standardisation, RevIN, online and EMA encoders, codebook, predictors): in PyTorch eager
(`torch.no_grad`) and in ONNX Runtime on the file `jepawatch export --onnx` writes. Batch 1
(per-window latency, as `watch` meets it) and batch 256 (throughput, as `score` meets it).
Ratios are ONNX Runtime's speed over PyTorch's. A batch larger than the ONNX backend's chunk
(`scoring.backends.windows_per_run`) is also timed as the backend runs it, in runs of that many
windows (its own ratio line). With a GPU (`--device cuda`), both on CUDA.

    python benchmarks/inference_speed.py [--model DIR] [--repeat 50] [--device cpu|cuda] [--batches 1,256]

Without --model it trains the paper config (window 100, D 256, K 128, 6 layers) for one epoch on
25 generated channels (speed does not depend on how well it is trained).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
import torch


def train_bundle(root: Path) -> Path:
    rng = np.random.default_rng(0)
    t = np.arange(4000)[:, None]
    values = np.sin(2 * np.pi * t / rng.uniform(30, 300, 25)[None, :]) + 0.2 * rng.standard_normal((4000, 25))
    import pandas as pd

    pd.DataFrame(values.round(4), columns=[f"m{i:02d}" for i in range(25)]).to_csv(root / "train.csv", index=False)
    subprocess.run([sys.executable, "-m", "jepawatch", "train", str(root / "train.csv"), "--epochs", "1", "--preset", "paper", "--out",
                    str(root / "models"), "--device", "cpu"], check=True, capture_output=True)
    return root / "models" / "train"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path)
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--opset", type=int, default=None, help="ONNX opset of the export (default: jepawatch's)")
    parser.add_argument("--batches", default="1,256", help="comma-separated batch sizes (the last line needs 1 and 256)")
    args = parser.parse_args()

    import onnxruntime as ort

    from jepawatch.bundle import load_bundle
    from jepawatch.export.onnx_export import InferenceGraph, export_onnx
    from jepawatch.scoring.backends import windows_per_run

    root = Path(tempfile.mkdtemp(prefix="inference-speed-"))
    bundle = load_bundle(args.model or train_bundle(root))
    onnx_path = root / "model.onnx"
    start = time.perf_counter()
    report = export_onnx(bundle, onnx_path, **({"opset": args.opset} if args.opset else {}))
    export_seconds = time.perf_counter() - start
    device = torch.device(args.device)
    from jepawatch.allocator import reuse_freed_memory

    tuned = reuse_freed_memory()  # as a Scorer does (both runtimes share the process)
    graph = InferenceGraph(bundle).eval().to(device)
    providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if device.type == "cuda" else ["CPUExecutionProvider"]
    session = ort.InferenceSession(str(onnx_path), providers=providers)
    cfg = bundle.run.model
    print(f"inference speed, {date.today()}, {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"torch {torch.__version__} ({torch.get_num_threads()} threads), onnxruntime {ort.__version__} "
          f"({session.get_providers()[0]}), device {device}, glibc malloc tuned: {tuned}")
    print(f"bundle {bundle.path}: window {cfg.window}, {cfg.n_channels} channels, D {cfg.d_model}, K {cfg.codebook_size}, "
          f"{cfg.encoder_layers} encoder layers; export (opset {args.opset or 'default'}) {export_seconds:.1f} s, "
          f"max |onnx - torch| {max(report.max_abs_diff.values()):.1e}")
    print(f"{'batch':>5} {'backend':<12} {'ms/batch p50':>13} {'ms/window':>10} {'windows/s':>10}")
    rng = np.random.default_rng(0)
    ratios, chunked_ratios = {}, {}
    chunk = windows_per_run(bundle)
    for batch in [int(b) for b in args.batches.split(",")]:
        raw = (rng.standard_normal((batch, cfg.window, cfg.n_channels)) * np.asarray(bundle.preprocess.std)
               + np.asarray(bundle.preprocess.mean)).astype(np.float32)
        x = torch.from_numpy(raw).to(device)

        def run_torch():
            with torch.no_grad():
                out = graph(x)
            if device.type == "cuda":
                torch.cuda.synchronize()
            return out

        def run_onnx():
            return session.run(None, {"window": raw})

        def run_onnx_chunked():  # as the ONNX backend runs a large batch (scoring.backends.windows_per_run)
            return [session.run(None, {"window": raw[i:i + chunk]}) for i in range(0, batch, chunk)]

        repeat = args.repeat if batch == 1 else max(3, args.repeat * 10 // batch if batch < 100 else args.repeat // 10)
        # The runtimes alternate in blocks, so that drift in the machine's speed (shared cores,
        # frequency) falls on both alike; a pause after each block lets the other runtime's worker
        # threads stop spinning (ONNX Runtime's and OpenMP's spin-wait would otherwise steal a core
        # from the next block: alternating call by call doubled torch's batch-1 time on 2 cores).
        runtimes = [("torch eager", run_torch), ("onnxruntime", run_onnx)]
        if batch > chunk:
            runtimes.append((f"onnx in {chunk}s", run_onnx_chunked))
        times = {name: [] for name, _ in runtimes}
        block = 10 if batch == 1 else 1 if batch >= 100 else 3
        for _ in range(max(1, repeat // block)):
            for name, run in runtimes:
                run()  # warm-up after the pause
                for _ in range(block):
                    start = time.perf_counter()
                    run()
                    times[name].append(time.perf_counter() - start)
                time.sleep(0.5)
        for name, values in times.items():
            p50 = statistics.median(values)
            print(f"{batch:>5} {name:<12} {p50 * 1000:>13.2f} {p50 * 1000 / batch:>10.3f} {batch / p50:>10.1f}")
        ratio = statistics.median(times["torch eager"]) / statistics.median(times["onnxruntime"])
        print(f"{batch:>5} ratio onnxruntime / torch eager: {ratio:.2f}x")
        ratios[batch] = ratio
        if batch > chunk:
            chunked = statistics.median(times["torch eager"]) / statistics.median(times[f"onnx in {chunk}s"])
            print(f"{batch:>5} ratio onnxruntime in runs of {chunk} windows (the backend) / torch eager: {chunked:.2f}x")
            chunked_ratios[batch] = chunked
    if 1 in ratios and 256 in ratios:
        if 256 in chunked_ratios:
            print(f"onnx/torch batch256 as the backend runs it (runs of {chunk}): {chunked_ratios[256]:.2f}")
        print(f"onnx/torch batch1 {ratios[1]:.2f} batch256 {ratios[256]:.2f}")


if __name__ == "__main__":
    main()
