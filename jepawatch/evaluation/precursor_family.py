"""A family of labelled series whose incidents are announced by a change of *dynamics*, not of level.

For measuring early warning (issue "The alert catches incidents and warns early"), beside the demo's
generator: precursors of the kinds that announce real incidents 120-150 rows ahead while every
value stays inside its normal range —

- `new_frequency`: a channel picks up an oscillation at a period it never had;
- `decoupling`: a channel stops following its driver (its level and spread stay as they were);
- `variance_collapse`: a channel's noise shrinks to a tenth (a stuck or smoothed sensor);
- `variance_growth`: a channel's noise triples;
- `creep`: a channel drifts slowly, reaching about two standard deviations at the onset.

Normal behaviour, six channels, one row a minute: a driver (a daily cycle and an hourly ripple
with noise), a follower (the driver lagged by 3 rows, scaled, with its own noise), two seasonal
channels of other periods, an AR(1) channel and a noisy ratio of driver and follower. Each
incident (labelled, 20-60 rows) is a level jump of 5-8 standard deviations on one channel; its
precursor (not labelled) starts 120-150 rows before it, on a random channel (the follower for
`decoupling`), and lasts until the incident ends. Incidents are spaced so that no precursor
overlaps an earlier incident. Everything is drawn from `seed`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

KINDS = ("new_frequency", "decoupling", "variance_collapse", "variance_growth", "creep")
CHANNELS = ("driver", "follower", "season_a", "season_b", "ar1", "ratio")
START = "2026-01-05 00:00:00"
LEAD_ROWS = (120, 150)  # how long before its incident a precursor starts
INCIDENT_ROWS = (20, 60)
GAP_ROWS = 250  # normal rows after an incident before the next precursor may start


@dataclass(frozen=True)
class Incident:
    kind: str  # the precursor's kind (KINDS)
    channel: int  # the precursor's channel
    precursor_start: int
    onset: int  # first labelled row
    length: int


@dataclass
class PrecursorData:
    train: pd.DataFrame  # normal behaviour only
    live: pd.DataFrame  # with incidents and a 0/1 `label` column
    incidents: list[Incident]


def make_precursor_data(train_rows: int = 10000, n_incidents: int = 40, seed: int = 0) -> PrecursorData:
    """Normal training rows, then a live part holding `n_incidents` incidents (the kinds in turn)."""
    rng = np.random.default_rng(seed)
    plan, row = [], LEAD_ROWS[1] + 50
    for i in range(n_incidents):
        lead = int(rng.integers(LEAD_ROWS[0], LEAD_ROWS[1] + 1))
        length = int(rng.integers(INCIDENT_ROWS[0], INCIDENT_ROWS[1] + 1))
        kind = KINDS[i % len(KINDS)]
        channel = 1 if kind == "decoupling" else int(rng.integers(0, len(CHANNELS)))
        plan.append(Incident(kind, channel, row, row + lead, length))
        row += lead + length + GAP_ROWS + int(rng.integers(0, 100))
    live_rows = row
    normal = normal_behaviour(train_rows + live_rows, rng)
    train, live = normal.values[:train_rows], normal.values[train_rows:].copy()
    components = {name: part[train_rows:] for name, part in normal.parts.items()}  # read only
    label = np.zeros(live_rows, dtype=np.int8)
    std = train.std(axis=0)
    for incident in plan:
        _precursor(live, components, incident, std, rng)
        stop = incident.onset + incident.length
        jump_channel = int(rng.integers(0, len(CHANNELS)))
        live[incident.onset:stop, jump_channel] += rng.choice([-1.0, 1.0]) * rng.uniform(5.0, 8.0) * std[jump_channel]
        label[incident.onset:stop] = 1
    stamps = pd.date_range(START, periods=train_rows + live_rows, freq="min")
    columns = list(CHANNELS)
    train_frame = pd.DataFrame(train.round(4), columns=columns).assign(timestamp=stamps[:train_rows].astype(str))
    live_frame = pd.DataFrame(live.round(4), columns=columns).assign(timestamp=stamps[train_rows:].astype(str), label=label)
    return PrecursorData(train_frame[["timestamp", *columns]], live_frame[["timestamp", *columns, "label"]], plan)


@dataclass
class NormalBehaviour:
    values: np.ndarray  # (T, 6)
    parts: dict  # what the precursors change: the follower's lagged driver, each channel's own noise


def normal_behaviour(rows: int, rng: np.random.Generator) -> NormalBehaviour:
    t = np.arange(rows, dtype=np.float64)
    noise = rng.standard_normal((rows, len(CHANNELS))) * np.array([0.15, 0.15, 0.2, 0.2, 1.0, 0.1])
    driver = np.sin(2 * np.pi * t / 1440) + 0.3 * np.sin(2 * np.pi * t / 60) + noise[:, 0]
    lagged = np.r_[np.full(3, driver[0]), driver[:-3]]
    follower = 0.8 * lagged + noise[:, 1]
    season_a = np.sin(2 * np.pi * t / 480 + 1.0) + noise[:, 2]
    season_b = 0.5 * np.sin(2 * np.pi * t / 200 + 2.0) + noise[:, 3]
    ar1 = np.zeros(rows)
    for i in range(1, rows):
        ar1[i] = 0.9 * ar1[i - 1] + 0.3 * noise[i, 4]
    ratio = 0.5 * (driver - follower) + noise[:, 5]
    values = np.stack([driver, follower, season_a, season_b, ar1, ratio], axis=1)
    own_noise = noise.copy()
    own_noise[:, 4] = ar1  # the AR(1) channel is all noise
    return NormalBehaviour(values, {"follower_lagged": 0.8 * lagged, "noise": own_noise})


def _precursor(live: np.ndarray, parts: dict, incident: Incident, std: np.ndarray, rng: np.random.Generator) -> None:
    """Change the dynamics of one channel from the precursor's start to the incident's end, its values
    staying within the normal range."""
    span = slice(incident.precursor_start, incident.onset + incident.length)
    c, n = incident.channel, span.stop - span.start
    noise = parts["noise"][span, c]
    if incident.kind == "new_frequency":
        period = rng.uniform(5.0, 9.0)  # faster than anything in normal behaviour (60 rows and longer)
        live[span, c] += 0.8 * std[c] * np.sin(2 * np.pi * np.arange(n) / period)
    elif incident.kind == "decoupling":  # the follower no longer follows: the same spread, another walk
        own = np.cumsum(rng.standard_normal(n)) * 0.05
        replacement = own - own.mean() + parts["follower_lagged"][span].mean()
        live[span, c] = replacement + noise
    elif incident.kind == "variance_collapse":
        live[span, c] -= 0.9 * noise
    elif incident.kind == "variance_growth":
        live[span, c] += 2.0 * noise
    elif incident.kind == "creep":
        live[span, c] += np.minimum(np.arange(n) / (incident.onset - incident.precursor_start), 1.0) * 2.0 * std[c]
