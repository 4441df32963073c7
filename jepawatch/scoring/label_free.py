"""The label-free next-window risk every bundle carries (our design, SPEC §9; measured by `evaluate`).

For window W_t, three components, each the largest value over channels (the channel that moved
most, in the spirit of the paper's variable-wise max-pooling):
- surprise_fine, surprise_coarse: KL between the EMA branch's codes of W_t and the codes
  predicted for W_t from W_{t-1} (spikes show at the fine, drifts at the coarse resolution);
- rarity: the expected surprisal, under the training code frequencies, of the codes predicted
  for W_{t+1} (a forecast of an unusual regime).

    score_t = sum_c (x_c,t - median_c) / iqr_c        (median and IQR over the validation windows)
    risk_t  = mid-rank share of validation windows whose score is below score_t   in [0, 1]

The validation windows are the held-out 10% of the training data, never the data being scored,
taken at every patch offset (stride = patch length), so that scoring with any `--stride` is
calibrated and the empirical distribution is finer than with one window per window length.
An alert is raised at risk >= 0.99 (the 99th percentile of validation windows) unless the
bundle or `--alert-at` says otherwise. Per channel, the same sum over components ranks the
channels that drive the risk.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from jepawatch.scoring.features import WindowSignals

COMPONENTS = ("surprise_fine", "surprise_coarse", "rarity")
DEFAULT_ALERT_AT = 0.99


@dataclass
class LabelFreeCalibration:
    center: list[float]  # median of each component on the validation windows
    scale: list[float]  # IQR of each component (1 where it is 0)
    reference: list[float] = field(repr=False)  # the validation windows' scores, sorted
    alert_at: float = DEFAULT_ALERT_AT

    @classmethod
    def fit(cls, signals: WindowSignals) -> "LabelFreeCalibration":
        values = _component_maxima(signals).double()  # (N, 3)
        center = values.median(dim=0).values
        iqr = values.quantile(0.75, dim=0) - values.quantile(0.25, dim=0)
        scale = torch.where(iqr > 1e-12, iqr, torch.ones_like(iqr))
        calibration = cls(center=center.tolist(), scale=scale.tolist(), reference=[])
        calibration.reference = np.sort(calibration.score(signals)).tolist()
        return calibration

    def score(self, signals: WindowSignals) -> np.ndarray:
        """(N,) raw score: standardised components summed."""
        return self._standardised(_component_maxima(signals)).sum(-1).numpy()

    def risk(self, scores: np.ndarray) -> np.ndarray:
        """(N,) in [0, 1]: the mid-rank empirical CDF of the validation scores."""
        reference = np.asarray(self.reference)
        below = np.searchsorted(reference, scores, side="left")
        at_or_below = np.searchsorted(reference, scores, side="right")
        return (below + at_or_below) / (2.0 * len(reference))

    def channel_scores(self, signals: WindowSignals) -> np.ndarray:
        """(N, V): each channel's standardised components summed, to name the drivers."""
        stacked = torch.stack([getattr(signals, c) for c in COMPONENTS], dim=-1).cpu()  # (N, V, 3)
        return self._standardised(stacked).sum(-1).numpy()

    def _standardised(self, values: torch.Tensor) -> torch.Tensor:
        center = torch.tensor(self.center, dtype=torch.float64)
        scale = torch.tensor(self.scale, dtype=torch.float64)
        return (values.double() - center) / scale

    def to_dict(self) -> dict:
        return {"formula": "mid-rank ECDF of sum_c (max_v x_c - median_c) / iqr_c over validation windows",
                "components": list(COMPONENTS), **asdict(self)}

    @classmethod
    def from_dict(cls, d: dict) -> "LabelFreeCalibration":
        return cls(center=d["center"], scale=d["scale"], reference=d["reference"], alert_at=d.get("alert_at", DEFAULT_ALERT_AT))


def _component_maxima(signals: WindowSignals) -> torch.Tensor:
    """(N, 3): each component's largest value over channels."""
    return torch.stack([getattr(signals, c).amax(dim=-1) for c in COMPONENTS], dim=-1).cpu()
