"""Batch scoring speed of `jepawatch score`, next to this machine's fp32 matmul rate, both backends.

For one bundle (default: the paper config, window 100, D 256, K 128, 6 layers, trained one epoch
on 25 generated channels; speed does not depend on how well it is trained) and a long generated
Parquet file (or `--data`), it measures

- the network's FLOPs per scored window: every window runs once (`scoring.scored_windows.signals_at`),
  counted with torch's FlopCounterMode on one batch (the fused Transformer fast path off while
  counting, since the counter does not see it);
- `jepawatch score FILE --batch-size B --out rows.jsonl` for each backend in its own process:
  wall time, windows per second, achieved GFLOP/s = FLOPs per window x windows / wall time, and
  peak resident memory (also on a file half as long, both longer than one read batch of 65,536
  rows, to show that memory does not grow with the file's length);
- the compute alone (`Scorer.signals` in this process on the same windows) for the same figures
  without reading, writing and start-up;
- the fp32 matmul rate (2048 x 2048) in the same run, before and after, and each ratio to it.

The last line reads `score: achieved/matmul R` (R for the default backend, auto: with the export,
on the CPU, ONNX Runtime at every batch size, in the backend's runs of `windows_per_run` windows).

    python benchmarks/score_speed.py [--model DIR] [--rows 100000] [--batch-size 256] [--data FILE]
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).parent))
from inference_speed import train_bundle  # noqa: E402
from train_speed import matmul_gflops  # noqa: E402


def generated_file(path: Path, rows: int, channels: list[str], seed: int = 1) -> Path:
    rng = np.random.default_rng(seed)
    t = np.arange(rows)[:, None]
    values = np.sin(2 * np.pi * t / rng.uniform(30, 300, len(channels))[None, :]) + 0.2 * rng.standard_normal((rows, len(channels)))
    pd.DataFrame(values.astype(np.float32), columns=channels).to_parquet(path, index=False)
    return path


def flops_per_window(bundle, batch_size: int) -> float:
    from jepawatch.scoring.features import window_outputs

    cfg = bundle.run.model
    windows = torch.randn(batch_size, cfg.window, cfg.n_channels, generator=torch.Generator().manual_seed(0))
    # FlopCounterMode's module tracker fails under no_grad: count the undecorated function with grad on
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with torch.enable_grad(), FlopCounterMode(display=False) as counter:
            window_outputs.__wrapped__(bundle.model.eval(), windows, True)
    finally:
        torch.backends.mha.set_fastpath_enabled(True)
    return counter.get_total_flops() / batch_size


# The child reports its own peak (VmHWM of its address space): ru_maxrss from wait4 would carry
# this process's size over the fork and exec.
CHILD = ("import atexit, runpy, sys\n"
         "atexit.register(lambda: print('VmHWM', next(l.split()[1] for l in open('/proc/self/status') "
         "if l.startswith('VmHWM')), file=sys.stderr))\n"
         "sys.argv = ['jepawatch', *sys.argv[1:]]\n"
         "runpy.run_module('jepawatch', run_name='__main__')\n")


def run_score(data: Path, bundle: Path, backend: str, batch_size: int, out: Path) -> tuple[float, float, int]:
    """(wall seconds, peak RSS MiB, windows scored) of one `jepawatch score` process."""
    cmd = [sys.executable, "-c", CHILD, "score", str(data), "--model", str(bundle), "--backend", backend,
           "--batch-size", str(batch_size), "--out", str(out), "--device", "cpu"]
    start = time.perf_counter()
    done = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"score failed: {done.stderr.strip()}")
    peak_kib = int(next(line.split()[1] for line in done.stderr.splitlines() if line.startswith("VmHWM")))
    with out.open() as f:
        windows = sum(1 for _ in f)
    return wall, peak_kib / 1024, windows


def compute_only(bundle, data: Path, backend_name: str, batch_size: int) -> tuple[float, int]:
    """(seconds, windows) of Scorer.signals over the file's scorable windows, in this process."""
    from jepawatch.allocator import reuse_freed_memory
    from jepawatch.scoring.scorer import ScoreSettings, Scorer
    from jepawatch.scoring.scored_windows import scorable_starts

    reuse_freed_memory()  # as `jepawatch score` does

    scorer = Scorer(bundle, torch.device("cpu"), ScoreSettings(batch_size=batch_size, backend=backend_name))
    frame = pd.read_parquet(data)
    series = bundle.preprocess.transform(frame[bundle.preprocess.channels].to_numpy(np.float64),
                                         bundle.preprocess.channels)
    starts = scorable_starts(len(series), scorer.window, scorer.window)
    scorer.signals(series, starts[: batch_size])  # warm-up
    start = time.perf_counter()
    scorer.signals(series, starts)
    return time.perf_counter() - start, len(starts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="bundle directory (default: train the paper config)")
    parser.add_argument("--data", type=Path, help="a Parquet file in the bundle's channels (default: generated)")
    parser.add_argument("--rows", type=int, default=200_000, help="rows of the generated file")
    parser.add_argument("--batch-size", type=int, default=256)
    args = parser.parse_args()

    from jepawatch.bundle import load_bundle

    root = Path(tempfile.mkdtemp(prefix="score-speed-"))
    bundle_path = args.model or train_bundle(root)
    bundle = load_bundle(bundle_path)
    if bundle.onnx_path is None:  # as a user makes it
        subprocess.run([sys.executable, "-m", "jepawatch", "export", "--onnx", "--model", str(bundle_path)],
                       check=True, capture_output=True)
        bundle = load_bundle(bundle_path)
    cfg, channels = bundle.run.model, bundle.preprocess.channels  # every training column (constant ones too)
    data = args.data or generated_file(root / "long.parquet", args.rows, channels)
    short = generated_file(root / "half.parquet", max(4 * cfg.window, args.rows // 2), channels)
    reference_before = matmul_gflops(torch.device("cpu"))
    flops = flops_per_window(bundle, min(args.batch_size, 64))

    import onnxruntime as ort

    print(f"score speed, {date.today()}, {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"torch {torch.__version__} ({torch.get_num_threads()} threads), onnxruntime {ort.__version__}")
    print(f"bundle {bundle_path}: window {cfg.window}, {cfg.n_channels} channels, D {cfg.d_model}, K {cfg.codebook_size}, "
          f"{cfg.encoder_layers} encoder layers; {flops / 1e9:.3f} GFLOP per scored window; batch {args.batch_size}")
    print(f"{'what':<28} {'backend':<7} {'wall s':>8} {'windows':>8} {'windows/s':>10} {'GFLOP/s':>8} {'peak MiB':>9}")
    achieved = {}
    for backend in ("torch", "onnx", "auto"):
        for label, path in (("jepawatch score (long file)", data), ("jepawatch score (1/2 file)", short)):
            wall, peak, windows = run_score(path, bundle_path, backend, args.batch_size, root / f"rows-{backend}.jsonl")
            rate = flops * windows / wall / 1e9
            if path == data:
                achieved[backend] = rate
            print(f"{label:<28} {backend:<7} {wall:>8.1f} {windows:>8} {windows / wall:>10.1f} {rate:>8.1f} {peak:>9.0f}")
        seconds, windows = compute_only(bundle, data, backend, args.batch_size)
        print(f"{'Scorer.signals (compute)':<28} {backend:<7} {seconds:>8.1f} {windows:>8} {windows / seconds:>10.1f} "
              f"{flops * windows / seconds / 1e9:>8.1f} {'':>9}")
    reference = (reference_before + matmul_gflops(torch.device("cpu"))) / 2
    print(f"fp32 matmul (2048x2048), same run: {reference:.1f} GFLOP/s (before {reference_before:.1f})")
    for backend, rate in achieved.items():
        print(f"jepawatch score, {backend}: achieved/matmul {rate / reference:.2f}")
    print(f"score: achieved/matmul {achieved['auto'] / reference:.2f}")


if __name__ == "__main__":
    main()
