"""Preprocessing fitted on training data and applied unchanged to every later split and to live data.

1. Constant-channel removal (App. B.1): channels with zero variance on the training data are
   dropped; the mask is saved in the bundle.
2. Per-channel standardisation with the training mean and std (decision): RevIN then normalises
   each window, and the reconstruction loss "after inverting RevIN" is measured in these
   standardised units, so its scale does not depend on the units of the user's data.
3. Missing cells (NaN from the adapters: empty, unparseable or infinite cells) are filled after
   standardising (decision): each takes its channel's last observed value, and a gap at the
   very start takes the training mean (0 in standardised units). Mean and std ignore missing
   cells; a channel with no value at all on the training data counts as constant. Only past
   values are used, so the same rule works on a live stream (`fill_forward` carries the last row).
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass

import numpy as np

from jepawatch.errors import DataError

FILL_POLICY = "forward_then_train_mean"


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
        # values: (T, V_all), NaN for missing cells
        values = values.astype(np.float64)
        observed = ~np.isnan(values)
        has_values = observed.any(axis=0)
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN channels: nanstd warns, we mask them
            mean = np.nanmean(values, axis=0)
            std = np.nanstd(values, axis=0)
        kept = has_values & (std > 0)
        if not kept.any():
            raise DataError("every channel is constant (or empty) on the training data; there is nothing to learn from")
        return cls(
            channels=list(channels),
            kept=[bool(k) for k in kept],
            mean=mean[kept].tolist(),
            std=std[kept].tolist(),
            timestamp_column=timestamp_column,
        )

    @property
    def kept_channels(self) -> list[str]:
        return [c for c, k in zip(self.channels, self.kept) if k]

    @property
    def n_kept(self) -> int:
        return sum(self.kept)

    def transform(self, values: np.ndarray, channels: list[str]) -> np.ndarray:
        """(T, V_all) with NaN for missing cells -> (T, V_kept) float32, standardised, missing cells filled."""
        filled, _ = fill_forward(self.transform_raw(values, channels))
        return filled

    def transform_raw(self, values: np.ndarray, channels: list[str]) -> np.ndarray:
        """Like `transform` but missing cells stay NaN (a stream fills them with `fill_forward`'s carry)."""
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


def fill_forward(values: np.ndarray, last: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Fill NaN cells with the channel's last observed value (from `last` across batches), else 0.

    values: (T, V) standardised; last: (V,) the previous batch's last filled row. Returns the
    filled (T, V) array and its last row, to pass to the next batch.
    """
    start = np.zeros(values.shape[1], dtype=values.dtype) if last is None else last.astype(values.dtype)
    if not np.isnan(values).any():
        return values, (values[-1].copy() if len(values) else start)
    # (T+1, V): prepend the carried row, take for each cell the index of the last non-NaN row at or before it
    stacked = np.vstack([start[None, :], values])
    index = np.where(np.isnan(stacked), 0, np.arange(len(stacked))[:, None])
    np.maximum.accumulate(index, axis=0, out=index)
    filled = stacked[index, np.arange(stacked.shape[1])][1:]
    return filled, filled[-1].copy() if len(filled) else start
