"""The soft codebook bottleneck Q (eq. 3): cosine similarity to K prototypes, softmax at tau."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class SoftCodes:
    """Output of the codebook for a batch of tokens."""

    probs: torch.Tensor  # (..., K) soft code distribution p, on the simplex
    log_probs: torch.Tensor  # (..., K) log p, exact (from log_softmax) for the KL terms
    z: torch.Tensor  # (..., D) expected embedding sum_k p_k c_k, inside the prototypes' convex hull


class SoftCodebook(nn.Module):
    def __init__(self, codebook_size: int, dim: int, temperature: float):
        super().__init__()
        self.temperature = temperature
        # Prototype norms ~ sqrt(D), the scale of LayerNorm-ed encoder tokens, so L_emb/L_com start balanced.
        prototypes = torch.empty(codebook_size, dim)  # N(0, 1) draws, the same values as torch.randn
        if not prototypes.is_meta:  # a bundle's shape check builds on the meta device, where drawing would
            prototypes.normal_()   # import sympy first: 0.3-0.55 s of every `score` start
        self.prototypes = nn.Parameter(prototypes)

    def logits(self, h: torch.Tensor) -> torch.Tensor:
        # h: (..., D) -> (..., K)
        return F.normalize(h, dim=-1) @ F.normalize(self.prototypes, dim=-1).t() / self.temperature

    def embed(self, probs: torch.Tensor) -> torch.Tensor:
        """z(p) = C^T p (eq. 17): (..., K) -> (..., D)."""
        return probs @ self.prototypes

    def forward(self, h: torch.Tensor) -> SoftCodes:
        logits = self.logits(h.float())
        log_probs = F.log_softmax(logits, dim=-1)
        probs = log_probs.exp()
        return SoftCodes(probs=probs, log_probs=log_probs, z=self.embed(probs))
