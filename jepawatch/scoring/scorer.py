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
from jepawatch.bundle import Bundle, load_bundle, resolve_bundle_path
from jepawatch.data.preprocess import fill_forward
from jepawatch.devices import resolve_device
from jepawatch.errors import BundleError, ConfigError
from jepawatch.scoring.alert_rule import alert_rule
from jepawatch.scoring.backends import make_backend
from jepawatch.scoring.features import WindowSignals
from jepawatch.scoring.gaps import estimate_rows_lost, gap_record
from jepawatch.scoring.head import head_from_bundle, predict
from jepawatch.scoring.label_free import risk_from_dict
from jepawatch.scoring.risk_text import cut_to_digits, stored_risk
from jepawatch.scoring.settings import TOP_CHANNELS, ScoreSettings, check_stride
from jepawatch.scoring.scored_windows import PredictionCache, signals_at

__all__ = ["Scorer", "ScoreSettings", "ScoringCursor", "StreamContext", "TOP_CHANNELS", "display_times"]

class Scorer:
    def __init__(self, bundle: Bundle, device: torch.device, settings: ScoreSettings | None = None):
        bundle.run.kind.check_scorable(bundle.name, bundle.model)
        if bundle.risk is None or bundle.code_frequencies is None:
            raise BundleError(f"{bundle.name} has no risk calibration (made by an older jepawatch); retrain it")
        self.bundle = bundle
        self.device = device
        self.settings = settings or ScoreSettings()
        self.window = bundle.run.model.window
        check_stride(self.settings.stride)
        self.stride = self.settings.stride or self.window
        if self.settings.batch_size < 1:
            raise ConfigError("--batch-size must be at least 1")
        if self.settings.top_channels < 0:
            raise ConfigError("--top-channels must be 0 or more")
        bundle.model.to(device).eval()
        self.backend = make_backend(self.settings.backend, bundle, device, self.settings.threads)
        self.calibration = risk_from_dict(bundle.risk)
        self.head = head_from_bundle(bundle.head, bundle.head_state)[0] if bundle.head else None
        rule = alert_rule(bundle, self.settings.alert_at)
        self.risk_source, self.alert_at = rule.risk_source, rule.alert_at
        self.channels = bundle.preprocess.kept_channels

    @classmethod
    def load(cls, model: str | None, models_dir, device: str | None, settings: ScoreSettings | None = None) -> "Scorer":
        """The scorer of bundle `model` (a name, a directory, or None for the latest) on `device` (None: auto)."""
        return cls(load_bundle(resolve_bundle_path(model, models_dir)), resolve_device(device), settings)

    def signals(self, series: np.ndarray, starts: np.ndarray, kept: PredictionCache | None = None,
                first_row: int = 0) -> WindowSignals:
        """Signals of the windows at `starts` of `series`; `kept`/`first_row`: a stream's prediction
        cache and the stream row of series[0] (`signals_at`)."""
        return signals_at(self.backend, series, starts, self.window, self.bundle.code_frequencies,
                          self.bundle.run.model.patch_len, self.settings.batch_size, kept, first_row)

    def risks(self, signals: WindowSignals) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(next_window_risk, label_free_risk, label_free_score), each (N,). The score is the
        label-free risk before its calibration (unbounded, same order). A `codes+stats` head reads
        the windows' statistics."""
        label_free_score = self.calibration.score(signals)
        label_free = self.calibration.risk_of_score(label_free_score)
        if self.head is None:
            return label_free, label_free, label_free_score
        return predict(self.head, self.head.inputs(signals.pooled, signals.window_stats)), label_free, label_free_score

    def rows(self, series: np.ndarray, starts: np.ndarray, row_offset: int = 0,
             timestamps: np.ndarray | None = None, kept: PredictionCache | None = None) -> list[dict]:
        """series (T, V) preprocessed; one dict per window starting at `starts` (indices into series);
        timestamps (T,): display strings (`display_times`) or None; `kept`: a stream's prediction cache,
        by stream row (series[0] is row `row_offset`)."""
        if len(starts) == 0:
            return []
        signals = self.signals(series, starts, kept, row_offset)
        risk, label_free, label_free_score = self.risks(signals)
        one_in = self.calibration.one_in(label_free_score)
        drivers = np.argsort(-self.calibration.channel_scores(signals), axis=1)[:, : self.settings.top_channels]
        out = []
        for i, start in enumerate(starts):
            end = start + self.window - 1
            out.append({
                "window_start": int(start + row_offset),
                "window_end": int(end + row_offset),
                "start_time": _stamp(timestamps, start),
                "end_time": _stamp(timestamps, end),
                "next_window_risk": stored_risk(risk[i]),
                "alert": bool(risk[i] >= self.alert_at),
                "risk_source": self.risk_source,
                "label_free_risk": stored_risk(label_free[i]),
                "one_in": cut_to_digits(one_in[i], 3),
                "label_free_score": round(float(label_free_score[i]), 4),
                "surprise_fine": round(float(signals.surprise_fine[i].max()), 6),
                "surprise_coarse": round(float(signals.surprise_coarse[i].max()), 6),
                "next_code_rarity": round(float(signals.rarity[i].max()), 6),
                "regime": " ".join(str(int(c)) for c in signals.regime[i]),
                "coarse_regime": int(signals.coarse_regime[i]),
                "next_regime": " ".join(str(int(c)) for c in signals.next_regime[i]),
                "drivers": ", ".join(self.channels[j] for j in drivers[i]),
            })
        return out

    def cursor(self, first_start: int | None = None) -> "ScoringCursor":
        """A cursor that scores pushed batches; `first_start` as in `stream`."""
        first_start = self.settings.first_row if first_start is None else first_start
        return ScoringCursor(self, StreamContext.start(self.window, len(self.channels), first_start))

    def stream(self, batches: Iterable[Series], first_start: int | None = None) -> Iterator[list[dict]]:
        """Score a stream batch by batch; yields the rows of each batch's newly complete windows.
        (`cursor` gives the same with the position of the next window to score.)

        `first_start`: absolute row of the first window to score (default: the window length, the
        first window with a predecessor); earlier rows are read only as context.
        """
        cursor = self.cursor(first_start)
        for batch in batches:
            rows = cursor.push(batch)
            if rows:
                yield rows


@dataclass
class StreamContext:
    """What streaming carries from one batch to the next, and what `watch --state` saves:
    the first row of the next window to score, the preprocessed rows still needed as context,
    their display times, and the last filled row (for `fill_forward`)."""

    next_start: int  # absolute row of the next window to score
    buffer: np.ndarray  # (rows kept, V) standardised and filled
    buffer_offset: int  # absolute row of buffer[0]
    stamps: np.ndarray | None  # (rows kept,) display strings, or None when the data has no times
    carry: np.ndarray | None  # (V,) the last filled row
    gap: dict | None = None  # rows were lost before buffer[0]: the next scored row says how many (scoring.gaps)

    @classmethod
    def start(cls, window: int, n_channels: int, first_start: int | None) -> "StreamContext":
        next_start = window if first_start is None else max(int(first_start), window)
        return cls(next_start, np.zeros((0, n_channels), dtype=np.float32), 0, None, None)

    def after_gap(self, window: int) -> "StreamContext":
        """A fresh context from the next row on: no window joins rows across the gap; the first one
        scored has a whole window of predecessor after it, as at the start of a stream."""
        rows = self.rows_read
        if self.gap is not None and not len(self.buffer):  # a second gap with no row between: one gap
            return StreamContext(rows + window, self.buffer[:0], rows, None, None, self.gap)
        return StreamContext(rows + window, self.buffer[:0], rows, None, None, gap_record(self.stamps))

    @property
    def rows_read(self) -> int:
        return self.buffer_offset + len(self.buffer)

    def to_dict(self) -> dict:
        return {"next_start": self.next_start, "buffer_offset": self.buffer_offset,
                "buffer": self.buffer.tolist(), "stamps": None if self.stamps is None else self.stamps.tolist(),
                "carry": None if self.carry is None else self.carry.tolist(),
                **({"gap": self.gap} if self.gap is not None else {})}

    @classmethod
    def from_dict(cls, d: dict, n_channels: int) -> "StreamContext":
        buffer = np.asarray(d["buffer"], dtype=np.float32).reshape(-1, n_channels)
        stamps = None if d["stamps"] is None else np.asarray(d["stamps"], dtype=object)
        carry = None if d["carry"] is None else np.asarray(d["carry"], dtype=np.float32)
        if (stamps is not None and len(stamps) != len(buffer)) or (carry is not None and carry.shape != (n_channels,)):
            raise ValueError("context arrays do not match")
        gap = d.get("gap")
        if gap is not None and not (isinstance(gap, dict) and set(gap) == {"rows_lost", "last", "step"}):
            raise ValueError("the gap record is damaged")
        return cls(int(d["next_start"]), buffer, int(d["buffer_offset"]), stamps, carry, gap)


class ScoringCursor:
    """Scores a stream pushed batch by batch, keeping only the context the next window needs."""

    def __init__(self, scorer: Scorer, context: StreamContext):
        self.scorer = scorer
        self.context = context
        self.kept = PredictionCache()  # the last windows' predictions: the next push's predecessors
        self.last_values = np.zeros((0, len(scorer.channels)), dtype=np.float32)  # the last push's rows, preprocessed
        self.last_stamps: np.ndarray | None = None  # and their display times (None without times)

    def start_after_gap(self) -> None:
        """The rows pushed next do not follow the rows before: rows between were lost (a followed file
        rotated away while nothing watched). Windows start afresh; the first says how many rows were lost."""
        self.context = self.context.after_gap(self.scorer.window)
        self.kept = PredictionCache()

    def push(self, batch: Series) -> list[dict]:
        """Append a batch (raw values in the bundle's channel order); the rows of the windows it completes."""
        scorer, ctx = self.scorer, self.context
        self.last_values, self.last_stamps = self.last_values[:0], None
        if batch.n_steps == 0:
            return []
        values = scorer.bundle.preprocess.transform_raw(batch.values, batch.channels)  # standardised, NaN kept
        values, ctx.carry = fill_forward(values, ctx.carry)
        ctx.buffer = np.concatenate([ctx.buffer, values])
        self.last_values = values
        if batch.timestamps is not None:
            stamps = display_times(batch.timestamps)
            ctx.stamps = stamps if ctx.stamps is None or len(ctx.stamps) == 0 else np.concatenate([ctx.stamps, stamps])
            self.last_stamps = stamps
        if ctx.gap is not None and ctx.gap["last"] is not None:  # estimated once, from the first row after the gap
            ctx.gap["rows_lost"], ctx.gap["last"] = estimate_rows_lost(ctx.gap, self.last_stamps), None
        end_row = ctx.rows_read
        starts = np.arange(ctx.next_start, end_row - scorer.window + 1, scorer.stride, dtype=np.int64)
        rows = []
        if len(starts):
            rows = scorer.rows(ctx.buffer, starts - ctx.buffer_offset, ctx.buffer_offset, ctx.stamps, self.kept)
            ctx.next_start = int(starts[-1]) + scorer.stride
            if ctx.gap is not None:  # the first window after a gap says how many rows were lost before it
                rows[0]["rows_lost_before"], ctx.gap = ctx.gap["rows_lost"], None
        keep_from = max(0, min(ctx.next_start - scorer.window, end_row) - ctx.buffer_offset)  # the context still needed
        ctx.buffer, ctx.buffer_offset = ctx.buffer[keep_from:], ctx.buffer_offset + keep_from
        if ctx.stamps is not None:
            ctx.stamps = ctx.stamps[keep_from:]
        return rows


def display_times(timestamps: np.ndarray) -> np.ndarray:
    """Times as the strings a scored row carries: ISO seconds for dates, the value as text otherwise."""
    if np.issubdtype(timestamps.dtype, np.datetime64):
        return np.datetime_as_string(timestamps, unit="s").astype(object)
    return np.asarray([str(v.item() if hasattr(v, "item") else v) for v in timestamps], dtype=object)


def _stamp(timestamps: np.ndarray | None, index: int) -> str | None:
    """timestamps: the display strings `display_times` made, or None."""
    return None if timestamps is None else str(timestamps[index])
