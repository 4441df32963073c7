"""Families of series whose normal behaviour changes without an incident, for measuring how quiet the
alert stays under benign change (issue "Quiet under benign change") and whether it still catches
incidents on top of it.

The normal behaviour is the precursor family's (`precursor_family`: six channels, one row a minute:
a driver with a daily cycle, a lagged follower, two seasonal channels, an AR(1) channel, a ratio).
Kinds of change, each drawn from `seed`:

- `random_walk`: the AR(1) channel is a random walk plus noise, slow in the training rows (steps of
  0.0125 a row) and four times faster in the live rows (0.05): a level that starts wandering beyond
  anything training saw, with nothing wrong;
- `step`: at `change_row` three channels move to another operating point (+3, -2.5 and +2 training
  standard deviations, over 10 rows) and stay there: a system back from maintenance;
- `seasonal_amplitude`: from `change_row`, over 500 rows, the daily cycle's and one seasonal channel's
  amplitude grow to 2.5 times: a season turning;
- `creep`: no benign change: the incidents are slow, each channel-wise drift over 1,200 rows (30
  windows of 40) up to 6 standard deviations, held 200 rows, all labelled: what a refit must not absorb.

With `incidents`, level jumps of 5-8 standard deviations on one channel (20-60 rows, labelled) start
after the first normal stretch of the new regime (`stretch`, live rows), spaced by 400-500 rows;
the creep family always has its creeps. Labels are a 0/1 `label` column of the live part.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from jepawatch.evaluation.precursor_family import CHANNELS, START, normal_behaviour

KINDS = ("random_walk", "step", "seasonal_amplitude", "creep")
WALK_STEP = 0.05  # the random walk's step a row (its noise is 0.2)
STEP_SHIFT = {0: 3.0, 2: -2.5, 5: 2.0}  # channel -> shift in training standard deviations
AMPLITUDE = 2.5
RAMP_ROWS = {"step": 10, "seasonal_amplitude": 500}
CREEP_ROWS, CREEP_HOLD, CREEP_SIGMAS = 1200, 200, 6.0
JUMP_ROWS = (20, 60)
GAP_ROWS = (400, 500)


@dataclass
class BenignData:
    train: pd.DataFrame  # normal rows (timestamp, channels)
    live: pd.DataFrame  # timestamp, channels, label
    change_row: int | None  # live row where the benign change starts (None: random_walk, creep)
    stretch: tuple[int, int]  # live rows of the first normal stretch of the new regime (a refit's data)
    incidents: list[tuple[int, int]]  # (onset, length) in live rows


def make_benign_data(kind: str, seed: int = 0, train_rows: int = 10000, live_rows: int = 16000,
                     incidents: bool = True, change_row: int = 1000, stretch_rows: int = 4000) -> BenignData:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    rng = np.random.default_rng(seed)
    normal = normal_behaviour(train_rows + live_rows, rng).values
    t = np.arange(train_rows + live_rows, dtype=np.float64)
    if kind == "random_walk":
        steps = rng.standard_normal(len(t)) * np.where(t < train_rows, WALK_STEP / 4, WALK_STEP)
        normal[:, 4] = np.cumsum(steps) + 0.2 * rng.standard_normal(len(t))
    train, live = normal[:train_rows], normal[train_rows:].copy()
    std = train.std(axis=0)
    changed = kind in ("step", "seasonal_amplitude")
    change = change_row if changed else None
    settled = change_row + RAMP_ROWS.get(kind, 0) if changed else 0
    ramp = np.clip((np.arange(live_rows) - change_row) / max(RAMP_ROWS.get(kind, 1), 1), 0.0, 1.0) if changed else None
    if kind == "step":
        for channel, sigmas in STEP_SHIFT.items():
            live[:, channel] += ramp * sigmas * std[channel]
    elif kind == "seasonal_amplitude":
        tl = t[train_rows:]
        live[:, 0] += ramp * (AMPLITUDE - 1) * np.sin(2 * np.pi * tl / 1440)
        live[:, 2] += ramp * (AMPLITUDE - 1) * np.sin(2 * np.pi * tl / 480 + 1.0)
    stretch = (settled, min(settled + stretch_rows, live_rows))
    label = np.zeros(live_rows, dtype=np.int8)
    plan = []
    row = stretch[1] + int(rng.integers(*GAP_ROWS)) if kind != "creep" else 1000
    while (kind == "creep" or incidents) and row < live_rows - 2000:
        channel = int(rng.integers(0, len(CHANNELS)))
        sign = rng.choice([-1.0, 1.0])
        if kind == "creep":
            length = CREEP_ROWS + CREEP_HOLD
            ramp_up = np.minimum(np.arange(length) / CREEP_ROWS, 1.0)
            live[row:row + length, channel] += sign * CREEP_SIGMAS * std[channel] * ramp_up
        else:
            length = int(rng.integers(*JUMP_ROWS))
            live[row:row + length, channel] += sign * rng.uniform(5.0, 8.0) * std[channel]
        label[row:row + length] = 1
        plan.append((row, length))
        row += length + int(rng.integers(*GAP_ROWS)) + (1500 if kind == "creep" else 0)
    stamps = pd.date_range(START, periods=train_rows + live_rows, freq="min").astype(str)
    columns = list(CHANNELS)
    train_frame = pd.DataFrame(train.round(4), columns=columns).assign(timestamp=stamps[:train_rows])
    live_frame = pd.DataFrame(live.round(4), columns=columns).assign(timestamp=stamps[train_rows:], label=label)
    return BenignData(train_frame[["timestamp", *columns]], live_frame[["timestamp", *columns, "label"]], change,
                      stretch, plan)
