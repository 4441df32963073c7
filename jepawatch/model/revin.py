"""Reversible instance normalisation (Kim et al., 2022), per window and per channel."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class RevINStats:
    """Statistics cached by `RevIN.normalise` to invert it later."""

    mean: torch.Tensor  # (N, 1)
    std: torch.Tensor  # (N, 1)
    channel: torch.Tensor  # (N,) channel index of each sequence, for the per-channel affine


class RevIN(nn.Module):
    """Normalise each univariate window by its own mean and std, then a learnable per-channel affine.

    Sequences are channel-independent, so each carries its channel index to pick its affine.
    Decision (it matters: 82% of MSL's per-channel training windows are constant): a window that is
    constant on a channel normalises to exactly zero (x - mean = 0, std = sqrt(eps)); it is encoded
    like any other input, as in the paper. Its effect on MSL-like data (mostly constant binary
    flags) shows in the training-health metrics.
    """

    def __init__(self, n_channels: int, eps: float = 1e-5, affine: bool = True, per_window: bool = True):
        super().__init__()
        self.eps = eps
        self.affine = affine
        # per_window=False (not the paper; issue 7): no instance statistics, only the affine, so the
        # encoder sees the window's level and scale (in training-standardised units) as well as its shape.
        self.per_window = per_window
        self.weight = nn.Parameter(torch.ones(n_channels)) if affine else None
        self.bias = nn.Parameter(torch.zeros(n_channels)) if affine else None

    def normalise(self, x: torch.Tensor, channel: torch.Tensor) -> tuple[torch.Tensor, RevINStats]:
        # x: (N, T) raw; channel: (N,) -> (N, T) normalised
        if self.per_window:
            # Statistics of the window shifted by its first value: a constant window shifts to exactly
            # zero, whatever order a runtime sums in, so it normalises to exactly zero in PyTorch and in
            # ONNX Runtime alike (a plain mean of 100 equal floats may miss them by an ulp, which the
            # std of sqrt(eps) then magnifies: 2.6e-4 between the two on MSL, over the export's check).
            first = x[:, :1]  # (N, 1)
            shifted = x - first  # (N, T)
            offset = shifted.mean(dim=1, keepdim=True)  # (N, 1)
            mean = first + offset  # (N, 1)
            std = torch.sqrt(shifted.var(dim=1, keepdim=True, unbiased=False) + self.eps)  # (N, 1)
            y = (shifted - offset) / std
        else:
            mean, std = torch.zeros_like(x[:, :1]), torch.ones_like(x[:, :1])  # (N, 1)
            y = x
        if self.affine:
            y = y * self.weight[channel, None] + self.bias[channel, None]
        return y, RevINStats(mean=mean, std=std, channel=channel)

    def denormalise(self, y: torch.Tensor, stats: RevINStats) -> torch.Tensor:
        # y: (N, T) normalised -> (N, T) in input units
        if self.affine:
            y = (y - self.bias[stats.channel, None]) / (self.weight[stats.channel, None] + self.eps**2)
        return y * stats.std + stats.mean
