"""The two input views of a normalised window (§3.2): fine patches and the DownAvg coarse patch."""

from __future__ import annotations

import torch


def fine_view(x: torch.Tensor, n_patches: int) -> torch.Tensor:
    """Cut each univariate window into P non-overlapping patches of length L (eq. 1).

    x: (N, T_w) -> (N, P, L)
    """
    n, t = x.shape
    return x.reshape(n, n_patches, t // n_patches)


def down_avg(x: torch.Tensor, n_patches: int) -> torch.Tensor:
    """DownAvg_P (eq. 16): average every P consecutive steps, giving one patch of length L.

    x: (N, T_w) -> (N, 1, L), with out[:, 0, l] = mean_j x[:, l*P + j].
    """
    n, t = x.shape
    return x.reshape(n, t // n_patches, n_patches).mean(dim=2).unsqueeze(1)


def unpatch(patches: torch.Tensor) -> torch.Tensor:
    """Inverse of `fine_view`: (N, P, L) -> (N, T_w)."""
    return patches.flatten(1)


def channel_sequences(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Multivariate windows to channel-independent sequences: (B, T, V) -> (B*V, T), channel ids (B*V,)."""
    b, t, v = x.shape
    channel = torch.arange(v, device=x.device).repeat(b)
    return x.permute(0, 2, 1).reshape(b * v, t), channel
