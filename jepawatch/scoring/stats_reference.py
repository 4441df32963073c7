"""How unusual a window's per-channel statistics are, against the training windows.

The statistics (`reference_statistics`: mean, std, min, max, last value and roughness of each
channel, in the training-standardised units of the preprocessing) keep what per-window RevIN
removes from the encoder's view: each channel's level and scale, and how rough it is. Bundles made
before roughness joined (2026-12-04) hold five statistics per channel and read only those. Two
measures, both fitted on the training windows only:

- `deviation` (N, V): per channel, the largest robust z-score |s - median| / IQR over its
  statistics (an IQR of 0, a statistic constant on training, counts as 1);
- `neighbours` (N,): the mean Euclidean distance to the k nearest training windows in the space
  of all statistics standardised by their training mean and std (a joint view: a combination of
  channels never seen together in training is far from every training window even when each
  channel alone looks ordinary). The space holds each channel's statistics of the whole window and
  of its last patch (its newest rows): a precursor that builds up towards an incident is strongest
  there. Decision (measured 2026-12-01 with `jepawatch evaluate`'s kNN on held-out demo-generator
  data, MSL and SKAB, next-window / normal-context AUC): whole window only 78.3 / 72.1, 62.8 / 67.1,
  68.8 / 50.8; whole + last patch 79.4 / 79.2, 63.7 / 66.0, 69.1 / 50.8.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

NEIGHBOURS = 5
MAX_POINTS = 2000  # training windows kept as the neighbours' reference (evenly thinned)


@dataclass
class StatsReference:
    median: list[float]  # (V*S,) of the whole windows' statistics, S per channel (6; 5 in older bundles)
    iqr: list[float]  # (V*S,)
    mean: list[float]  # (2*V*S,) of the joint statistics
    std: list[float]  # (2*V*S,)
    points: list[list[float]]  # (M, 2*V*S) standardised statistics (whole window, last patch) of training windows
    n_channels: int
    relative: list[int] = field(default_factory=list)  # channels whose levels count relative to the window's mean
    _tensors: dict = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        # built once: converting the lists on every scored batch cost ~10 ms a window (MSL's reference)
        self._tensors = {name: torch.tensor(getattr(self, name), dtype=torch.float64)
                         for name in ("median", "iqr", "mean", "std", "points")}

    @property
    def n_statistics(self) -> int:
        """Statistics per channel it was fitted on (what it reads of the scored windows' statistics)."""
        return len(self.median) // self.n_channels

    @classmethod
    def fit(cls, stats: torch.Tensor, recent: torch.Tensor, relative: list[int] | tuple[int, ...] = ()) -> "StatsReference":
        """stats, recent: (N, V, S) of training windows, whole and of their last patch; `relative`: the
        channels whose levels count relative to each window's own mean (`relative_levels`)."""
        relative = sorted(int(c) for c in relative)
        stats, recent = relative_levels(stats, recent, relative)
        median, iqr = robust_center_scale(stats.double().flatten(1).numpy())  # (V*S,) each
        x = _joint(stats, recent).numpy()  # (N, 2*V*S)
        mean, std = center_scale(x)
        keep = kept_points(len(x))
        points = np.round((x[keep] - mean) / std, 4)  # 4 decimals keep risk.json small
        return cls(median.tolist(), iqr.tolist(), mean.tolist(), std.tolist(), points.tolist(), int(stats.shape[1]), relative)

    def statistics(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The kept training windows' statistics, whole and of their last patch, (M, V, S) each: the
        points back in the preprocessing's units (rounded as stored; `relative` channels as stored)."""
        x = self._tensors["points"] * self._tensors["std"] + self._tensors["mean"]
        whole, recent = x.reshape(len(x), 2, self.n_channels, self.n_statistics).unbind(1)
        return whole.float(), recent.float()

    def deviation(self, stats: torch.Tensor) -> torch.Tensor:
        """(N, V, S) -> (N, V): the largest robust z-score of each channel's statistics."""
        x = relative_levels(stats[..., : self.n_statistics], None, self.relative)[0].double().flatten(1)
        z = ((x - self._tensors["median"]) / self._tensors["iqr"]).abs()
        return z.reshape(len(x), self.n_channels, -1).amax(-1)

    def neighbours(self, stats: torch.Tensor, recent: torch.Tensor, exclusion: "Exclusion | None" = None) -> torch.Tensor:
        """(N, V, S) whole-window and last-patch statistics -> (N,): mean distance to the k nearest training windows.
        `exclusion`: the windows scored are training windows themselves, and each is compared only with
        the reference windows far enough from it in time (a leave-neighbourhood-out estimate)."""
        n = self.n_statistics
        stats, recent = relative_levels(stats[..., :n], recent[..., :n], self.relative)
        x = (_joint(stats, recent) - self._tensors["mean"]) / self._tensors["std"]
        reference = self._tensors["points"]
        k = min(NEIGHBOURS, len(reference))
        out = []
        for offset in range(0, len(x), 1024):
            distances = torch.cdist(x[offset: offset + 1024], reference)
            if exclusion is not None:
                distances = distances.masked_fill(exclusion.near(offset, len(distances)), float("inf"))
            out.append(distances.topk(k, largest=False).values.mean(-1))
        return torch.cat(out) if out else torch.zeros(0, dtype=torch.float64)

    def to_dict(self) -> dict:
        d = {"median": self.median, "iqr": self.iqr, "mean": self.mean, "std": self.std,
             "points": self.points, "n_channels": self.n_channels}
        return {**d, "relative": self.relative} if self.relative else d

    @classmethod
    def from_dict(cls, d: dict) -> "StatsReference":
        return cls(d["median"], d["iqr"], d["mean"], d["std"], d["points"], int(d["n_channels"]),
                   [int(c) for c in d.get("relative", [])])


@dataclass
class Exclusion:
    """Where scored windows and reference points lie in time (rows; different segments far apart) and
    how close a reference point may not be (its window starts fewer than `zone` rows away)."""

    positions: np.ndarray  # (N,) of the scored windows
    point_positions: np.ndarray  # (M,) of the reference points, as `StatsReference.fit` kept them
    zone: int

    def __post_init__(self):
        self.positions = torch.as_tensor(np.asarray(self.positions, dtype=np.int64))
        self.point_positions = torch.as_tensor(np.asarray(self.point_positions, dtype=np.int64))

    def near(self, offset: int, n: int) -> torch.Tensor:
        """(n, M) bool: which reference points are too close to scored windows offset .. offset + n - 1."""
        rows = self.positions[offset: offset + n]
        return (rows[:, None] - self.point_positions[None, :]).abs() < self.zone


LEVELS = (0, 2, 3, 4)  # of the statistics: mean, min, max, last (std and roughness have no level)


def relative_levels(stats: torch.Tensor, recent: torch.Tensor | None, channels: list[int]):
    """(N, V, S) whole-window and last-patch statistics with the levels of `channels` taken relative
    to each window's own mean (its mean becomes 0; min, max and last, and the last patch's levels,
    are distances from it): a channel whose level wanders is judged by its shape and its change
    within the window, not by where it wandered to. Applying it twice changes nothing."""
    if not channels:
        return stats, recent
    index, levels = torch.as_tensor(channels, dtype=torch.long)[:, None], torch.as_tensor(LEVELS[: stats.shape[-1]])
    anchor = stats[:, index[:, 0], :1]  # (N, C, 1) each window's mean
    stats = stats.clone()
    stats[:, index, levels] -= anchor
    if recent is not None:
        recent = recent.clone()
        recent[:, index, levels] -= anchor
    return stats, recent


def kept_points(n: int) -> np.ndarray:
    """Which of n training windows `StatsReference.fit` keeps as reference points (evenly thinned)."""
    return np.linspace(0, n - 1, min(n, MAX_POINTS)).round().astype(int)


def _joint(stats: torch.Tensor, recent: torch.Tensor) -> torch.Tensor:
    """(N, V, S) twice -> (N, 2*V*S) float64."""
    return torch.cat([stats.double().flatten(1), recent.double().flatten(1)], dim=1)


def robust_center_scale(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, F) -> median and IQR over N, an IQR of 0 (a statistic constant on training) counted as 1."""
    iqr = np.subtract(*np.percentile(x, [75, 25], axis=0))
    return np.median(x, axis=0), np.where(iqr > 1e-9, iqr, 1.0)


def center_scale(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, F) -> mean and std over N, a std of 0 counted as 1."""
    std = x.std(axis=0)
    return x.mean(axis=0), np.where(std > 1e-9, std, 1.0)
