"""Which windows get scored, and their signals computed in batches.

A window is scored when it is complete and has a complete predecessor (the T steps before it),
since its surprise compares it with what that predecessor predicted. With the default stride
(= the window length) that is every non-overlapping window but the first.
"""

from __future__ import annotations

import numpy as np

import torch

from jepawatch.scoring.features import WindowSignals, signals_from_outputs, window_statistics


def scorable_starts(n_rows: int, window: int, stride: int, first: int | None = None) -> np.ndarray:
    """Start rows of the windows to score: first (default: `window`), first + stride, ... while complete."""
    first = window if first is None else max(first, window)
    if n_rows < first + window:
        return np.zeros(0, dtype=np.int64)
    return np.arange(first, n_rows - window + 1, stride, dtype=np.int64)


def signals_at(backend, series: np.ndarray, starts: np.ndarray, window: int, code_frequencies: dict,
               patch_len: int, batch_size: int = 64) -> WindowSignals:
    """series: (T, V) preprocessed; signals for the windows starting at `starts` (each with its
    predecessor), computed by `backend` (scoring.backends: PyTorch or ONNX Runtime); `patch_len`
    rows at the end of each window make its recent statistics."""
    offsets = np.arange(window)
    parts = []
    for begin in range(0, len(starts), batch_size):
        batch = starts[begin : begin + batch_size]
        current = series[batch[:, None] + offsets]  # (B, T, V)
        previous = series[batch[:, None] - window + offsets]  # (B, T, V)
        windows = torch.from_numpy(np.ascontiguousarray(current))
        stats, recent = window_statistics(windows), window_statistics(windows[:, -patch_len:])  # (B, V, 5) each
        signals = signals_from_outputs(backend.outputs(previous, targets=False), backend.outputs(current),
                                       code_frequencies, stats, recent)
        parts.append(_to_cpu(signals))
    return WindowSignals.concat(parts)


def _to_cpu(signals: WindowSignals) -> WindowSignals:
    return WindowSignals(*(getattr(signals, f).float().cpu() if getattr(signals, f).is_floating_point()
                           else getattr(signals, f).cpu() for f in WindowSignals.__dataclass_fields__))
