"""The EMA target update xi <- rho * xi + (1 - rho) * theta, after every optimiser step."""

from __future__ import annotations

import torch
from torch import nn


@torch.no_grad()
def ema_update(pairs: list[tuple[nn.Module, nn.Module]], decay: float) -> None:
    for online, ema in pairs:
        online_params = [p.detach() for p in online.parameters()]
        ema_params = list(ema.parameters())
        torch._foreach_mul_(ema_params, decay)
        torch._foreach_add_(ema_params, online_params, alpha=1.0 - decay)
