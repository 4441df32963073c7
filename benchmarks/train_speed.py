"""Training throughput of the paper-size MTS-JEPA, next to this machine's fp32 matmul rate.

    python benchmarks/train_speed.py [--steps 20] [--batch-size 128] [--device cpu|cuda]

Prints training samples per second (a sample is one channel-window pair, the unit of the
paper's batch of 128), the FLOPs of one full training step (forward + backward, counted by
torch.utils.flop_counter), the achieved GFLOP/s, and the fp32 matmul GFLOP/s measured in the
same run; the ratio is the figure the foundation issue targets (>= 0.5 on CPU).
"""

from __future__ import annotations

import argparse
import platform
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from jepawatch.model import MTSJEPA, MTSJEPAConfig
from jepawatch.training.ema import ema_update
from jepawatch.training.losses import MTSJEPAObjective


def matmul_gflops(device: torch.device, n: int = 2048, repeats: int = 10) -> float:
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    for _ in range(2):
        a @ b
    _sync(device)
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    _sync(device)
    return 2 * n**3 * repeats / (time.perf_counter() - start) / 1e9


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--channels", type=int, default=33, help="V of the RevIN affine (MSL keeps 33)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)

    cfg = MTSJEPAConfig(n_channels=args.channels)
    model = MTSJEPA(cfg).to(device).train()
    objective = MTSJEPAObjective(cfg)
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=5e-4, weight_decay=1e-5)
    n = args.batch_size
    context = torch.randn(n, cfg.window, device=device)
    target = torch.randn(n, cfg.window, device=device)
    channel = torch.randint(0, args.channels, (n,), device=device)
    autocast = device.type == "cuda"

    def step() -> None:
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=autocast):
            out = model(context, target, channel)
            loss, _ = objective(model, out, 0.3)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(optimizer.param_groups[0]["params"], 0.5)
        optimizer.step()
        ema_update(model.ema_pairs(), 0.996)

    # The EMA branch runs in eval mode under no_grad, where PyTorch uses a fused Transformer fast
    # path that FlopCounterMode does not see; count with the fast path off, time with it on.
    torch.backends.mha.set_fastpath_enabled(False)
    with FlopCounterMode(display=False) as counter:
        step()
    torch.backends.mha.set_fastpath_enabled(True)
    flops = counter.get_total_flops()
    for _ in range(2):
        step()
    _sync(device)
    start = time.perf_counter()
    for _ in range(args.steps):
        step()
    _sync(device)
    seconds = (time.perf_counter() - start) / args.steps
    achieved = flops / seconds / 1e9
    reference = matmul_gflops(device)

    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine()
    print(f"device            {device} ({name}), torch {torch.__version__}, {torch.get_num_threads()} threads")
    print("config            paper (D 256, K 128, 6 encoder layers, P 5 x L 20), batch "
          f"{n} channel-windows{' bf16 autocast' if autocast else ' fp32'}")
    print(f"step time         {seconds * 1e3:.1f} ms")
    print(f"training samples  {n / seconds:.1f} channel-windows/s")
    print(f"FLOPs per step    {flops / 1e9:.2f} GFLOP (forward + backward)")
    print(f"achieved          {achieved:.1f} GFLOP/s")
    print(f"fp32 matmul       {reference:.1f} GFLOP/s (2048x2048, same run)")
    print(f"ratio             {achieved / reference:.2f} of the matmul rate (goal >= 0.50 on CPU)")


if __name__ == "__main__":
    main()
