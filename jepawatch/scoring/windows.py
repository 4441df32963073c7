"""Which windows get scored, and their signals computed in batches.

A window is scored when it is complete and has a complete predecessor (the T steps before it),
since its surprise compares it with what that predecessor predicted. With the default stride
(= the window length) that is every non-overlapping window but the first.
"""

from __future__ import annotations

import numpy as np
import torch

from jepawatch.scoring.features import WindowSignals, window_signals


def scorable_starts(n_rows: int, window: int, stride: int, first: int | None = None) -> np.ndarray:
    """Start rows of the windows to score: first (default: `window`), first + stride, ... while complete."""
    first = window if first is None else max(first, window)
    if n_rows < first + window:
        return np.zeros(0, dtype=np.int64)
    return np.arange(first, n_rows - window + 1, stride, dtype=np.int64)


def signals_at(model, series: np.ndarray, starts: np.ndarray, window: int, code_frequencies: dict,
               device: torch.device, batch_size: int = 64) -> WindowSignals:
    """series: (T, V) preprocessed; signals for the windows starting at `starts` (each with its predecessor)."""
    data = torch.from_numpy(np.ascontiguousarray(series))  # (T, V)
    offsets = torch.arange(window)
    parts = []
    for begin in range(0, len(starts), batch_size):
        batch = torch.from_numpy(starts[begin : begin + batch_size])
        current = data[batch[:, None] + offsets].to(device)  # (B, T, V)
        previous = data[batch[:, None] - window + offsets].to(device)  # (B, T, V)
        parts.append(_to_cpu(window_signals(model, previous, current, code_frequencies)))
    return WindowSignals.concat(parts)


def _to_cpu(signals: WindowSignals) -> WindowSignals:
    return WindowSignals(*(getattr(signals, f).float().cpu() if getattr(signals, f).is_floating_point()
                           else getattr(signals, f).cpu() for f in WindowSignals.__dataclass_fields__))
