"""From a model bundle and a stream of data to one row per scored window.

Each row: where the window is (rows, and times when the data has them), `next_window_risk` in
[0, 1] with its `alert` flag and `risk_source` (supervised when the bundle has a calibrated head,
label-free otherwise; the label-free risk is always given too), the window's surprise at both
resolutions, the expected rarity of the predicted next codes, the regime codes (dominant code
per patch after variable-wise max-pooling, the coarse code, the predicted codes of the next
window) and the channels that drive the risk.

Streaming keeps only the last window of context, so memory does not grow with the input.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Iterator

import numpy as np
import torch

from jepawatch.adapters import Series
from jepawatch.bundle import Bundle
from jepawatch.data.preprocess import fill_forward
from jepawatch.errors import BundleError, ConfigError
from jepawatch.scoring.features import WindowSignals, check_scorable
from jepawatch.scoring.head import head_from_bundle, predict
from jepawatch.scoring.label_free import LabelFreeCalibration
from jepawatch.scoring.windows import signals_at

TOP_CHANNELS = 3


@dataclass
class ScoreSettings:
    stride: int | None = None  # None: the window length
    alert_at: float | None = None  # None: the bundle's threshold
    top_channels: int = TOP_CHANNELS
    batch_size: int = 64  # windows per forward pass


class Scorer:
    def __init__(self, bundle: Bundle, device: torch.device, settings: ScoreSettings | None = None):
        if bundle.run.model_kind != "mts-jepa":
            raise ConfigError(f"{bundle.name} is a {bundle.run.model_kind} bundle; scoring needs an mts-jepa bundle")
        check_scorable(bundle.model)
        if bundle.risk is None or bundle.code_frequencies is None:
            raise BundleError(f"{bundle.name} has no risk calibration (made by an older jepawatch); retrain it")
        self.bundle = bundle
        self.device = device
        self.settings = settings or ScoreSettings()
        self.window = bundle.run.model.window
        self.stride = self.settings.stride or self.window
        if self.stride < 1:
            raise ConfigError("--stride must be at least 1")
        self.model = bundle.model.to(device).eval()
        self.calibration = LabelFreeCalibration.from_dict(bundle.risk)
        self.head, threshold = head_from_bundle(bundle.head, bundle.head_state) if bundle.head else (None, None)
        self.risk_source = "supervised" if self.head is not None else "label-free"
        default = threshold if self.head is not None else self.calibration.alert_at
        self.alert_at = default if self.settings.alert_at is None else self.settings.alert_at
        self.channels = bundle.preprocess.kept_channels

    @classmethod
    def load(cls, model: str | None, models_dir, device: str | None, settings: ScoreSettings | None = None) -> "Scorer":
        """The scorer of bundle `model` (a name, a directory, or None for the latest) on `device` (None: auto)."""
        from jepawatch.bundle import load_bundle, resolve_bundle_path
        from jepawatch.training.job import resolve_device

        return cls(load_bundle(resolve_bundle_path(model, models_dir)), resolve_device(device or "auto"), settings)

    def signals(self, series: np.ndarray, starts: np.ndarray) -> WindowSignals:
        return signals_at(self.model, series, starts, self.window, self.bundle.code_frequencies, self.device,
                          self.settings.batch_size)

    def risks(self, signals: WindowSignals) -> tuple[np.ndarray, np.ndarray]:
        """(next_window_risk, label_free_risk), each (N,)."""
        label_free = self.calibration.risk(self.calibration.score(signals))
        if self.head is None:
            return label_free, label_free
        return predict(self.head, signals.pooled), label_free

    def rows(self, series: np.ndarray, starts: np.ndarray, row_offset: int = 0,
             timestamps: np.ndarray | None = None) -> list[dict]:
        """series (T, V) preprocessed; one dict per window starting at `starts` (indices into series)."""
        if len(starts) == 0:
            return []
        signals = self.signals(series, starts)
        risk, label_free = self.risks(signals)
        drivers = np.argsort(-self.calibration.channel_scores(signals), axis=1)[:, : self.settings.top_channels]
        out = []
        for i, start in enumerate(starts):
            end = start + self.window - 1
            out.append({
                "window_start": int(start + row_offset),
                "window_end": int(end + row_offset),
                "start_time": _stamp(timestamps, start),
                "end_time": _stamp(timestamps, end),
                "next_window_risk": round(float(risk[i]), 6),
                "alert": bool(risk[i] >= self.alert_at),
                "risk_source": self.risk_source,
                "label_free_risk": round(float(label_free[i]), 6),
                "surprise_fine": round(float(signals.surprise_fine[i].max()), 6),
                "surprise_coarse": round(float(signals.surprise_coarse[i].max()), 6),
                "next_code_rarity": round(float(signals.rarity[i].max()), 6),
                "regime": " ".join(str(int(c)) for c in signals.regime[i]),
                "coarse_regime": int(signals.coarse_regime[i]),
                "next_regime": " ".join(str(int(c)) for c in signals.next_regime[i]),
                "drivers": ", ".join(self.channels[j] for j in drivers[i]),
            })
        return out

    def stream(self, batches: Iterable[Series], first_start: int | None = None) -> Iterator[list[dict]]:
        """Score a stream batch by batch; yields the rows of each batch's newly complete windows.
        `self.next_start` is then the first row of the next window to score.

        `first_start`: absolute row of the first window to score (default: the window length, the
        first window with a predecessor); earlier rows are read only as context.
        """
        next_start = self.window if first_start is None else max(int(first_start), self.window)
        self.next_start = next_start
        buffer = np.zeros((0, len(self.channels)), dtype=np.float32)  # (rows kept, V)
        stamps: np.ndarray | None = None
        buffer_offset = 0  # absolute row of buffer[0]
        carry = None
        for batch in batches:
            values = self.bundle.preprocess.transform_raw(batch.values, batch.channels)  # standardised, NaN kept
            values, carry = fill_forward(values, carry)
            buffer = np.concatenate([buffer, values])
            if batch.timestamps is not None:
                stamps = batch.timestamps if stamps is None or len(stamps) == 0 else np.concatenate([stamps, batch.timestamps])
            end_row = buffer_offset + len(buffer)
            starts = np.arange(next_start, end_row - self.window + 1, self.stride, dtype=np.int64)
            if len(starts):
                local = starts - buffer_offset
                rows = self.rows(buffer, local, buffer_offset, stamps)
                next_start = self.next_start = int(starts[-1]) + self.stride
                yield rows
            keep_from = max(0, min(next_start - self.window, end_row) - buffer_offset)  # the context still needed
            buffer, buffer_offset = buffer[keep_from:], buffer_offset + keep_from
            if stamps is not None:
                stamps = stamps[keep_from:]


def _stamp(timestamps: np.ndarray | None, index: int) -> str | None:
    if timestamps is None:
        return None
    value = timestamps[index]
    if isinstance(value, np.datetime64):
        return str(np.datetime_as_string(value, unit="s"))
    return str(value.item() if hasattr(value, "item") else value)
