"""The auxiliary reconstruction decoder D: online z_t -> the (normalised) input patches."""

from __future__ import annotations

import torch
from torch import nn


class PatchDecoder(nn.Module):
    """(..., D) -> (..., L), one token to one patch. Decision: a 2-layer MLP per token (the paper is silent)."""

    def __init__(self, dim: int, patch_len: int, hidden: int):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, patch_len))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)
