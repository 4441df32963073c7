"""A continuous empirical CDF with an exponential upper tail (peaks over threshold, shape 0).

Below the threshold u (the 90th percentile of the reference values) F is the empirical CDF of
the reference, linearly interpolated between plotting positions (i + 0.5) / n, so it has no
steps and no ties; above u it is the peaks-over-threshold model with a generalised Pareto shape
of 0 (an exponential excess, the SPOT detector's tail with its scale set to the mean excess):

    F(x) = 1 - (1 - F(u)) * exp(-(x - u) / beta),   x > u,  beta = mean of (v - u) over v > u

so a value beyond anything seen on the reference still gets a finite, growing tail score
-log(1 - F(x)), linear in x there. A reference of one repeated value gets a tiny scale: anything
above it is very surprising, anything at or below it is not.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TAIL_QUANTILE = 0.9
MAX_REFERENCE = 2048  # quantiles kept of a larger reference: the CDF is then exact to 1/2048
MIN_SCALE = 1e-6


@dataclass
class TailCDF:
    values: list[float]  # sorted distinct reference values (at most MAX_REFERENCE)
    positions: list[float]  # F at each of them, increasing in (0, 1)
    threshold: float  # u
    threshold_cdf: float  # F(u)
    scale: float  # beta

    @classmethod
    def fit(cls, reference: np.ndarray) -> "TailCDF":
        x = np.sort(np.asarray(reference, dtype=np.float64).ravel())
        x = x[np.isfinite(x)]
        if len(x) == 0:
            raise ValueError("no finite reference values")
        n = len(x)
        positions = (np.arange(n) + 0.5) / n
        if n > MAX_REFERENCE:
            keep = np.linspace(0, n - 1, MAX_REFERENCE).round().astype(int)
            x, positions = x[keep], positions[keep]
        values, first = np.unique(x, return_index=True)
        last = np.r_[first[1:], len(x)] - 1
        positions = (positions[first] + positions[last]) / 2.0  # a tie sits at its middle position
        threshold = float(np.quantile(x, TAIL_QUANTILE))
        excess = x[x > threshold] - threshold
        spread = float(values[-1] - values[0])
        scale = float(excess.mean()) if len(excess) else max(spread / max(n, 1), MIN_SCALE)
        return cls(values.tolist(), positions.tolist(), threshold, float(np.interp(threshold, values, positions)),
                   max(scale, MIN_SCALE))

    def cdf(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        body = np.interp(x, self.values, self.positions)
        tail = 1.0 - (1.0 - self.threshold_cdf) * np.exp(-(x - self.threshold) / self.scale)
        return np.where(x > self.threshold, tail, body)

    def tail_score(self, x: np.ndarray) -> np.ndarray:
        """-log(1 - F(x)): about 2.3 at the 90th percentile, 4.6 at the 99th, linear beyond u."""
        x = np.asarray(x, dtype=np.float64)
        body = -np.log1p(-np.interp(x, self.values, self.positions))
        tail = -np.log1p(-self.threshold_cdf) + (x - self.threshold) / self.scale
        return np.where(x > self.threshold, tail, body)

    def to_dict(self) -> dict:
        return {"values": self.values, "positions": self.positions, "threshold": self.threshold,
                "threshold_cdf": self.threshold_cdf, "scale": self.scale}

    @classmethod
    def from_dict(cls, d: dict) -> "TailCDF":
        return cls([float(v) for v in d["values"]], [float(p) for p in d["positions"]], float(d["threshold"]),
                   float(d["threshold_cdf"]), float(d["scale"]))
