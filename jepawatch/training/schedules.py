"""Schedules over the whole run (global optimiser steps), not per epoch."""

from __future__ import annotations


def linear(start: float, end: float, step: int, total_steps: int) -> float:
    """Linear from `start` at step 0 to `end` at step total_steps - 1 (and after)."""
    if total_steps <= 1:
        return end
    frac = min(max(step / (total_steps - 1), 0.0), 1.0)
    return start + (end - start) * frac
