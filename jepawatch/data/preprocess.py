"""Preprocessing fitted on training data and applied unchanged to every later split and to live data.

1. Constant-channel removal (App. B.1): channels with zero variance on the training data are
   dropped; the mask is saved in the bundle.
2. Per-channel standardisation with the training mean and std (decision): RevIN then normalises
   each window, and the reconstruction loss "after inverting RevIN" is measured in these
   standardised units, so its scale does not depend on the units of the user's data.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from jepawatch.errors import DataError

FILL_POLICY = "ffill_then_bfill"


@dataclass
class Preprocessor:
    channels: list[str]  # every numeric channel of the training data, in order
    kept: list[bool]  # False for channels constant on the training data
    mean: list[float]  # per kept channel
    std: list[float]  # per kept channel
    fill_policy: str = FILL_POLICY
    timestamp_column: str | None = None

    @classmethod
    def fit(cls, values: np.ndarray, channels: list[str], timestamp_column: str | None = None) -> "Preprocessor":
        # values: (T, V_all), NaN-free
        std = values.astype(np.float64).std(axis=0)
        kept = std > 0
        if not kept.any():
            raise DataError("every channel is constant on the training data; there is nothing to learn from")
        kept_values = values[:, kept].astype(np.float64)
        return cls(
            channels=list(channels),
            kept=[bool(k) for k in kept],
            mean=kept_values.mean(axis=0).tolist(),
            std=kept_values.std(axis=0).tolist(),
            timestamp_column=timestamp_column,
        )

    @property
    def kept_channels(self) -> list[str]:
        return [c for c, k in zip(self.channels, self.kept) if k]

    @property
    def n_kept(self) -> int:
        return sum(self.kept)

    def transform(self, values: np.ndarray, channels: list[str]) -> np.ndarray:
        """(T, V_all) in the training data's channel order -> (T, V_kept) float32, standardised."""
        if list(channels) != self.channels:
            missing = [c for c in self.channels if c not in channels]
            extra = [c for c in channels if c not in self.channels]
            if missing or extra:
                raise DataError(
                    "the data's channels do not match the model's: "
                    + "; ".join(p for p in (f"missing {', '.join(missing)}" if missing else "",
                                            f"extra {', '.join(extra)}" if extra else "") if p)
                )
            values = values[:, [channels.index(c) for c in self.channels]]
        kept = np.asarray(self.kept)
        out = (values[:, kept].astype(np.float64) - np.asarray(self.mean)) / np.asarray(self.std)
        return out.astype(np.float32)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Preprocessor":
        return cls(**d)
