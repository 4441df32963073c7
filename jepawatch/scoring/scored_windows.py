"""Which windows get scored, and their signals computed in batches.

A window is scored when it is complete and has a complete predecessor (the T steps before it),
since its surprise compares it with what that predecessor predicted. With the default stride
(= the window length) that is every non-overlapping window but the first.
"""

from __future__ import annotations

import numpy as np

import torch

from jepawatch.scoring.features import WindowOutputs, WindowSignals, reference_statistics, signals_from_outputs


def scorable_starts(n_rows: int, window: int, stride: int, first: int | None = None) -> np.ndarray:
    """Start rows of the windows to score: first (default: `window`), first + stride, ... while complete."""
    first = window if first is None else max(first, window)
    if n_rows < first + window:
        return np.zeros(0, dtype=np.int64)
    return np.arange(first, n_rows - window + 1, stride, dtype=np.int64)


def signals_at(backend, series: np.ndarray, starts: np.ndarray, window: int, code_frequencies: dict,
               patch_len: int, batch_size: int = 64, kept: "PredictionCache | None" = None,
               first_row: int = 0) -> WindowSignals:
    """series: (T, V) preprocessed; signals for the windows starting at `starts` (increasing, each
    with its predecessor), computed by `backend` (scoring.backends: PyTorch or ONNX Runtime);
    `patch_len` rows at the end of each window make its recent statistics.

    Every window runs through the network once: a scored window's predictions are kept until the
    window after it (T rows later) is scored, for which they are the predecessor's. Only a
    predecessor that is not itself scored (the first window, or every one when the stride is not
    a divisor of T) runs on its own, without its EMA views. At most T / stride + batch_size
    windows' predictions are kept, so memory does not grow with the series.

    `kept`: a cache that outlives the call (a stream's: `ScoringCursor`), so that the first window of
    the next call finds its predecessor's predictions; its keys are rows of the stream, `series[0]`
    being row `first_row`. It keeps what a later window may need (starts after the last one's
    predecessor).
    """
    offsets = np.arange(window)
    persistent = kept is not None
    kept = kept if persistent else PredictionCache()
    parts = []
    for begin in range(0, len(starts), batch_size):
        batch = starts[begin : begin + batch_size]
        rows = np.ascontiguousarray(series[batch[:, None] + offsets])  # (B, T, V)
        current = backend.outputs(rows)
        windows = torch.from_numpy(rows)
        kept.add(batch + first_row, current)
        missing = np.asarray([s for s in batch - window if s + first_row not in kept], dtype=np.int64)
        if len(missing):
            kept.add(missing + first_row, backend.outputs(series[missing[:, None] + offsets], targets=False))
        next_fine, next_coarse = kept.predictions(batch - window + first_row)
        stats, recent = reference_statistics(windows), reference_statistics(windows[:, -patch_len:])  # (B, V, 6) each
        signals = signals_from_outputs(next_fine, next_coarse, current, code_frequencies, stats, recent)
        parts.append(_to_cpu(signals))
        following = starts[begin + batch_size] if begin + batch_size < len(starts) else None
        if following is not None:
            kept.drop_before(following - window + first_row)
        else:  # later calls score windows after the last: keep the predecessors they may have
            kept.drop_before(int(starts[-1]) - window + 1 + first_row if persistent else None)
    return WindowSignals.concat(parts)


class PredictionCache:
    """The next-window predictions of windows already run, by start row: fine (V, P, K) and
    coarse (V, 1, K) or None."""

    def __init__(self):
        self._by_start: dict[int, tuple[torch.Tensor, torch.Tensor | None]] = {}

    def __contains__(self, start) -> bool:
        return int(start) in self._by_start

    def add(self, starts: np.ndarray, outputs: WindowOutputs) -> None:
        for i, start in enumerate(starts):
            coarse = outputs.next_coarse[i] if outputs.next_coarse is not None else None
            self._by_start[int(start)] = (outputs.next_fine[i], coarse)

    def predictions(self, starts: np.ndarray) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(B, V, P, K) fine and (B, V, 1, K) coarse (or None) for the windows at `starts`."""
        pairs = [self._by_start[int(s)] for s in starts]
        fine = torch.stack([f for f, _ in pairs])
        coarse = torch.stack([c for _, c in pairs]) if pairs[0][1] is not None else None
        return fine, coarse

    def drop_before(self, start: int | None) -> None:
        """Forget the windows before `start` (all of them for None)."""
        self._by_start = {} if start is None else {s: v for s, v in self._by_start.items() if s >= start}


def _to_cpu(signals: WindowSignals) -> WindowSignals:
    return WindowSignals(*(getattr(signals, f).float().cpu() if getattr(signals, f).is_floating_point()
                           else getattr(signals, f).cpu() for f in WindowSignals.__dataclass_fields__))
