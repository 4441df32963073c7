"""Pairs of consecutive windows (W_t, W_{t+1}), the chronological train/validation split, and segments.

A segment is one stretch of rows that windows never cross: a training source, or one series of a
long-format table. Training on several segments splits each on its own (its own validation tail)
and makes pairs within each, so no pair holds rows of two segments.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import ConcatDataset, Dataset

from jepawatch.errors import DataError


class WindowPairs(Dataset):
    """(context, target) pairs of consecutive windows of `window` rows, starting every `stride` rows.

    series: (T, V). Pair i is (series[s:s+W], series[s+W:s+2W]) with s = i * stride.
    channel_offset: the model's index of the first channel (sources with their own channels each
    have their own range of channel indices; RevIN's affine is per channel index).
    """

    def __init__(self, series: np.ndarray, window: int, stride: int | None = None, channel_offset: int = 0):
        self.series = torch.from_numpy(np.ascontiguousarray(series, dtype=np.float32))
        self.window = window
        self.stride = stride or window
        self.channel_offset = channel_offset
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
        return context[:, channel], target[:, channel], torch.tensor(self.pairs.channel_offset + channel)


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


@dataclass
class Segment:
    """One stretch of preprocessed rows, split in time order; windows never cross its boundaries."""

    name: str  # the source, or "source: series id" for one series of a long-format table
    split: SplitSeries
    channel_offset: int = 0  # the model's index of its first channel
    source: int = 0  # which training source it comes from (0: the one the bundle scores)

    def pairs(self, window: int, stride: int | None = None, part: str = "train") -> WindowPairs | None:
        rows = self.split.train if part == "train" else self.split.val
        return None if rows is None else WindowPairs(rows, window, stride, self.channel_offset)


def split_segments(parts: list[tuple[str, np.ndarray, int, int]], window: int, val_fraction: float,
                   warn=lambda message: None) -> list[Segment]:
    """parts: (name, series (T, V), channel offset, source) each -> the segments, each split on its own.

    One part shorter than two windows is a DataError (as `chronological_split` says); among several,
    a short one is left out with one warning line, and only all of them short is an error."""
    if len(parts) == 1:
        name, series, offset, source = parts[0]
        return [Segment(name, chronological_split(series, window, val_fraction), offset, source)]
    segments, short = [], []
    for name, series, offset, source in parts:
        if series.shape[0] < 2 * window:
            short.append(name)
            continue
        segments.append(Segment(name, chronological_split(series, window, val_fraction), offset, source))
    if not segments:
        raise DataError(f"every series is shorter than two windows of {window} rows; give longer series "
                        "or lower the window (--set model.window=...)")
    if short:
        shown = ", ".join(short[:5]) + (" ..." if len(short) > 5 else "")
        warn(f"{len(short)} series shorter than two windows ({2 * window} rows) left out of training: {shown}")
    return segments


def segment_pairs(segments: list[Segment], window: int, stride: int | None = None,
                  part: str = "train") -> list[WindowPairs]:
    """The pairs of every segment's `part` ("train" or "val"), one WindowPairs per segment that has any."""
    found = [s.pairs(window, stride, part) for s in segments]
    return [p for p in found if p is not None and len(p)]


def concat_samples(datasets: list[Dataset]) -> Dataset:
    """One dataset of several (pairs of several segments), indexed one after the other."""
    return datasets[0] if len(datasets) == 1 else ConcatDataset(datasets)
