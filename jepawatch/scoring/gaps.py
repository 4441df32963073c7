"""Rows lost in a gap of a followed file (`live.follow`): how many, from the time stamps.

Where the rows written while nothing watched are in no file any more, the windows start afresh
after the gap and the first of them says how many rows were lost before it. The count is an
estimate from the time stamps: the time between the last row before the gap and the first row
after it, over the data's usual step (the median step of the rows kept before the gap), less one.
Without time stamps, or without a regular step, the count is unknown (None).
"""

from __future__ import annotations

import numpy as np


def gap_record(stamps_before: np.ndarray | None) -> dict:
    """What the next row's time needs to estimate the rows lost: the last time before the gap and
    the step, as numbers (seconds for dates); `rows_lost` None until estimated."""
    times = _as_numbers(stamps_before)
    if times is None or len(times) < 2:
        return {"rows_lost": None, "last": None, "step": None}
    steps = np.diff(times)
    step = float(np.median(steps))
    if not np.isfinite(step) or step <= 0 or not np.all(steps > 0):
        return {"rows_lost": None, "last": None, "step": None}
    return {"rows_lost": None, "last": float(times[-1]), "step": step}


def estimate_rows_lost(record: dict, first_after: np.ndarray | None) -> int | None:
    """Rows between the last time before the gap and `first_after` (the display time of the first
    row after it), at the usual step; None when the times cannot tell."""
    if record.get("last") is None or first_after is None or len(first_after) == 0:
        return None
    first = _as_numbers(first_after[:1])
    if first is None or not np.isfinite(first[0]) or first[0] <= record["last"]:
        return None
    return max(0, int(round((float(first[0]) - record["last"]) / record["step"])) - 1)


def _as_numbers(stamps: np.ndarray | None) -> np.ndarray | None:
    """Display times (ISO dates, or numbers as text) as floats (seconds for dates), or None."""
    if stamps is None or len(stamps) == 0:
        return None
    try:
        return np.asarray([float(s) for s in stamps], dtype=np.float64)
    except (TypeError, ValueError):
        pass
    try:
        dates = np.asarray([np.datetime64(str(s)) for s in stamps]).astype("datetime64[ns]")
    except (TypeError, ValueError):
        return None
    if np.isnat(dates).any():
        return None
    return dates.astype(np.int64).astype(np.float64) / 1e9
