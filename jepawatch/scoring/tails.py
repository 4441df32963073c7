"""A continuous empirical CDF with an exponential upper tail (peaks over threshold, shape 0).

Below the threshold u (the 90th percentile of the reference values) F is the empirical CDF of
the reference, linearly interpolated between plotting positions (i + 0.5) / n, so it has no
steps and no ties; above u it is the peaks-over-threshold model with a generalised Pareto shape
of 0 (an exponential excess, the SPOT detector's tail with its scale set to the mean excess):

    F(x) = 1 - (1 - F(u)) * exp(-(x - u) / beta),   x > u,  beta = mean of (v - u) over v > u

so a value beyond anything seen on the reference still gets a finite, growing tail score
-log(1 - F(x)), linear in x there. The lower tail (below the 10th percentile l) is the mirror
image, F(x) = F(l) * exp(-(l - x) / beta_low), so that values below every reference value are
still ordered (no ties there either). A reference of one repeated value gets a tiny scale:
anything above it is very surprising, anything at or below it is not.

Far out, beyond one in a million (1 - F = FAR), the exponential would round F to exactly 1.0 in
floating point some 30 scales further on, and windows there would tie at the top. There `cdf`
decays hyperbolically instead, 1 - F(x) = FAR / (1 + (x - x_far) / beta), joined to the exponential
with the same value and slope at x_far: it keeps its order up to absurd distances (1 - F stays
above 1e-15 up to a billion scales beyond x_far). That far out no calibration measures the rarity
anyway (it rests on some hundreds of windows); the hyperbola says "beyond one in a million" and
keeps the order. `tail_score` keeps growing linearly (it is the score the components add up).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TAIL_QUANTILE = 0.9
MAX_REFERENCE = 2048  # quantiles kept of a larger reference: the CDF is then exact to 1/2048
MIN_SCALE = 1e-6
FAR = 1e-6  # beyond this upper-tail probability the CDF decays hyperbolically (see the module doc)


@dataclass
class TailCDF:
    values: list[float]  # sorted distinct reference values (at most MAX_REFERENCE)
    positions: list[float]  # F at each of them, increasing in (0, 1)
    threshold: float  # u
    threshold_cdf: float  # F(u)
    scale: float  # beta
    low_threshold: float  # l
    low_threshold_cdf: float  # F(l)
    low_scale: float  # beta_low

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
        # Floor: the mean excess of a few values over their 90th percentile is often tiny, which makes
        # everything above the reference "very surprising". IQR / 4 is 0.34 sigma for normal data, below
        # the 0.47 sigma mean excess over its 90th percentile: it binds only for small or lumpy references
        # (alerts at 0.99 on fresh normal data, 200 trials: 6 reference values 6.3%, 11: 2.3%, 51: 1.3%,
        # 200: 0.95%; without the floor 9%, 5%, 1.5%, 1.07%).
        iqr = float(np.subtract(*np.quantile(x, [0.75, 0.25])))
        floor = max(iqr / 4.0, MIN_SCALE)
        scale = max(float(excess.mean()) if len(excess) else spread / max(n, 1), floor)
        low = float(np.quantile(x, 1.0 - TAIL_QUANTILE))
        deficit = low - x[x < low]
        # (no floor below: the lower tail only orders unremarkable windows and should follow the data)
        low_scale = max(float(deficit.mean()) if len(deficit) else spread / max(n, 1), MIN_SCALE)
        return cls(values.tolist(), positions.tolist(), threshold, float(np.interp(threshold, values, positions)),
                   scale, low, float(np.interp(low, values, positions)), low_scale)

    def cdf(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        body = np.interp(x, self.values, self.positions)
        with np.errstate(over="ignore"):  # the branch overflows only where np.where discards it
            low = self.low_threshold_cdf * np.exp(-(self.low_threshold - x) / self.low_scale)
        return np.where(x > self.threshold, 1.0 - self._upper_tail(x), np.where(x < self.low_threshold, low, body))

    def survival(self, x: np.ndarray) -> np.ndarray:
        """1 - F(x), computed without cancellation in the upper tail: how rare a value at least this
        large is (1 in 1 / survival(x) reference values), down to about 1e-15 however far out."""
        x = np.asarray(x, dtype=np.float64)
        return np.where(x > self.threshold, self._upper_tail(x), 1.0 - self.cdf(np.minimum(x, self.threshold)))

    def _upper_tail(self, x: np.ndarray) -> np.ndarray:
        x = np.maximum(np.asarray(x, dtype=np.float64), self.threshold)
        above = 1.0 - self.threshold_cdf
        far = self.threshold + self.scale * np.log(max(above, FAR) / FAR)  # where the exponential reaches FAR
        with np.errstate(over="ignore"):  # each branch overflows only where np.where discards it
            tail = above * np.exp(-(x - self.threshold) / self.scale)
            hyperbola = min(above, FAR) / (1.0 + (x - far) / self.scale)
        return np.where(x > far, hyperbola, tail)

    def tail_score(self, x: np.ndarray) -> np.ndarray:
        """-log(1 - F(x)): about 2.3 at the 90th percentile, 4.6 at the 99th, linear beyond u."""
        x = np.asarray(x, dtype=np.float64)
        body = -np.log1p(-self.cdf(np.minimum(x, self.threshold)))
        tail = -np.log1p(-self.threshold_cdf) + (x - self.threshold) / self.scale
        return np.where(x > self.threshold, tail, body)
