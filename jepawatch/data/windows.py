"""Pairs of consecutive windows (W_t, W_{t+1}) and the chronological train/validation split."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

from jepawatch.errors import DataError


class WindowPairs(Dataset):
    """(context, target) pairs of consecutive windows of `window` rows, starting every `stride` rows.

    series: (T, V). Pair i is (series[s:s+W], series[s+W:s+2W]) with s = i * stride.
    """

    def __init__(self, series: np.ndarray, window: int, stride: int | None = None):
        self.series = torch.from_numpy(np.ascontiguousarray(series, dtype=np.float32))
        self.window = window
        self.stride = stride or window
        span = self.series.shape[0] - 2 * window
        self.n_pairs = 0 if span < 0 else span // self.stride + 1

    def __len__(self) -> int:
        return self.n_pairs

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        s = i * self.stride
        w = self.window
        return self.series[s : s + w], self.series[s + w : s + 2 * w]

    def contexts(self) -> torch.Tensor:
        """Every complete non-overlapping window, (N, W, V), for statistics over the data."""
        n = self.series.shape[0] // self.window
        return self.series[: n * self.window].reshape(n, self.window, -1)


class ChannelPairs(Dataset):
    """Channel-independent samples of `pairs`: (W_t[:, c], W_{t+1}[:, c], c) for every pair and channel.

    MTS-JEPA trains on these: a batch of 128 is 128 univariate (window, channel) samples, as in the
    authors' released code (ChannelIndependentDataset), not 128 multivariate windows.
    """

    def __init__(self, pairs: WindowPairs):
        self.pairs = pairs
        self.n_channels = pairs.series.shape[1]

    def __len__(self) -> int:
        return len(self.pairs) * self.n_channels

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        pair, channel = divmod(i, self.n_channels)
        context, target = self.pairs[pair]
        return context[:, channel], target[:, channel], torch.tensor(channel)


@dataclass
class SplitSeries:
    train: np.ndarray  # (T_train, V)
    val: np.ndarray | None  # (T_val, V), None when there is too little data for a validation split


def chronological_split(series: np.ndarray, window: int, val_fraction: float) -> SplitSeries:
    """Split whole windows 9:1 (for val_fraction 0.1) in time order; validation needs two windows.

    Raises DataError when the series holds fewer than two windows (one training pair).
    """
    n_windows = series.shape[0] // window
    if n_windows < 2:
        raise DataError(
            f"the data has {series.shape[0]} rows, fewer than two windows of {window}; "
            f"give at least {2 * window} rows or lower the window (--set window=...)"
        )
    n_val = int(round(n_windows * val_fraction)) if val_fraction > 0 else 0
    if 0 < n_val < 2:
        n_val = 2
    if n_windows - n_val < 2:
        n_val = 0  # too short to hold out a validation split: validate on the training pairs
    cut = (n_windows - n_val) * window
    return SplitSeries(train=series[:cut], val=series[cut : n_windows * window] if n_val else None)
