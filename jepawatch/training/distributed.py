"""Multi-GPU / multi-node training through PyTorch's own engine (`torchrun`), DDP.

`torchrun --nproc-per-node N -m jepawatch train ...` sets WORLD_SIZE/RANK/LOCAL_RANK; each
process trains on its shard (DistributedSampler) and rank 0 alone writes checkpoints and the
bundle. The backend is NCCL on CUDA and gloo on CPU. A torchrun launch of one process joins a
process group of one and trains through DDP too, so one GPU runs the code path of many.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass
class DistContext:
    world_size: int = 1
    rank: int = 0
    local_rank: int = 0
    launched: bool = False  # started by torchrun: a process group (of one process, too) and DDP

    @property
    def enabled(self) -> bool:
        return self.launched or self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()


def init_distributed(device: torch.device) -> DistContext:
    """Join the process group when launched by torchrun (any number of processes); a no-op for a
    process started on its own."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    launched = "TORCHELASTIC_RUN_ID" in os.environ  # set by torchrun for every process it starts
    if world_size <= 1 and not launched:
        return DistContext()
    ctx = DistContext(world_size, int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0")), launched)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return ctx


def shutdown_distributed(ctx: DistContext) -> None:
    if ctx.enabled and dist.is_initialized():
        dist.destroy_process_group()
