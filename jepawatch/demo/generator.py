"""A realistic multichannel series for the demo and the examples: a web service, one row a minute.

Eight channels driven by one load signal (a daily cycle, an hourly ripple, slow random wander):
requests, CPU, latency (nonlinear in load), network out (lagged), errors (count-like), memory (a
sawtooth that garbage collection resets), disk I/O (bursty) and temperature (slow, following
CPU). Every channel has its own noise.

Anomalies, in the live part only, alternate between the two kinds the paper targets:

- a short spike (8-20 rows): latency triples, errors jump, CPU saturates;
- a slow drift (150-300 rows): a memory leak (memory climbs, GC stops resetting it) that drags
  latency up with it.

Each is preceded by a weak precursor over the 60 rows before it begins, the kind of thing an
operator would miss: before a spike, a small fast oscillation in latency and errors whose
amplitude grows; before a drift, GC resets stop and CPU decouples a little from the load.
`label` is 1 on anomalous rows (not on precursors).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

CHANNELS = ("requests", "cpu_pct", "latency_ms", "net_out_mbps", "errors", "memory_pct", "disk_io_mbps", "temp_c")
PRECURSOR_ROWS = 60
START = "2026-11-02 00:00:00"


@dataclass(frozen=True)
class Anomaly:
    kind: str  # spike | drift
    start: int  # first anomalous row (in the live part)
    length: int


@dataclass
class DemoData:
    train: pd.DataFrame  # normal operation: timestamp and channels
    live: pd.DataFrame  # what follows: timestamp, channels and label
    anomalies: list[Anomaly]


def make_demo_data(train_rows: int = 10000, live_rows: int = 3000, seed: int = 0, n_anomalies: int = 8) -> DemoData:
    rng = np.random.default_rng(seed)
    rows = train_rows + live_rows
    t = np.arange(rows, dtype=np.float64)
    wander = np.cumsum(rng.standard_normal(rows)) * 0.002
    wander -= np.convolve(wander, np.ones(720) / 720, mode="same")  # keep the wander slow and bounded
    load = 0.55 + 0.3 * np.sin(2 * np.pi * (t - 480) / 1440) + 0.06 * np.sin(2 * np.pi * t / 60) + wander
    load = np.clip(load, 0.05, None)

    channels = {
        "requests": 1200 * load + 25 * rng.standard_normal(rows),
        "cpu_pct": 15 + 70 * load + 2.0 * rng.standard_normal(rows),
        "latency_ms": 40 + 60 * load**2 + 2.5 * rng.standard_normal(rows),
        "net_out_mbps": 80 + 300 * np.roll(load, 2) + 8 * rng.standard_normal(rows),
        "errors": rng.poisson(1 + 3 * load).astype(np.float64),
        "memory_pct": 45 + 25 * ((t % 360) / 360) + 0.6 * rng.standard_normal(rows),
        "disk_io_mbps": 20 + 15 * rng.standard_exponential(rows) * (rng.random(rows) < 0.2),
        "temp_c": np.zeros(rows),
    }
    anomalies = _place_anomalies(train_rows, live_rows, n_anomalies, rng)
    for anomaly in anomalies:
        _inject(channels, load, anomaly, train_rows, rng)
    # temperature follows CPU slowly (after the anomalies, so it reacts to them too)
    cpu = channels["cpu_pct"]
    channels["temp_c"] = 35 + 0.25 * pd.Series(cpu).ewm(span=30).mean().to_numpy() + 0.3 * rng.standard_normal(rows)
    channels["cpu_pct"] = np.clip(cpu, 0, 100)
    channels["errors"] = np.maximum(channels["errors"], 0).round()

    label = np.zeros(rows, dtype=np.int64)
    for anomaly in anomalies:
        label[train_rows + anomaly.start: train_rows + anomaly.start + anomaly.length] = 1
    stamps = pd.date_range(START, periods=rows, freq="min").strftime("%Y-%m-%d %H:%M:%S")
    frame = pd.DataFrame({"timestamp": stamps, **{name: np.round(channels[name], 3) for name in CHANNELS}})
    train = frame.iloc[:train_rows].reset_index(drop=True)
    live = frame.iloc[train_rows:].reset_index(drop=True)
    live["label"] = label[train_rows:]
    return DemoData(train, live, anomalies)


def _place_anomalies(train_rows: int, live_rows: int, n: int, rng: np.random.Generator) -> list[Anomaly]:
    """Evenly spread over the live part (after a quiet start), kinds alternating, start jittered."""
    slot = (live_rows - 300) // n
    out = []
    for i in range(n):
        kind = "spike" if i % 2 == 0 else "drift"
        length = int(rng.integers(8, 21)) if kind == "spike" else int(rng.integers(150, min(300, slot - PRECURSOR_ROWS - 20)))
        start = 200 + i * slot + PRECURSOR_ROWS + int(rng.integers(0, max(1, slot - length - PRECURSOR_ROWS - 20)))
        out.append(Anomaly(kind, start, length))
    return out


def _inject(channels: dict, load: np.ndarray, anomaly: Anomaly, offset: int, rng: np.random.Generator) -> None:
    s = offset + anomaly.start
    e = s + anomaly.length
    pre = slice(s - PRECURSOR_ROWS, s)
    ramp = np.linspace(0.0, 1.0, PRECURSOR_ROWS)
    if anomaly.kind == "spike":
        wiggle = np.sin(2 * np.pi * np.arange(PRECURSOR_ROWS) / 5)
        channels["latency_ms"][pre] += 10.0 * ramp * wiggle
        channels["errors"][pre] += np.round(2.0 * ramp * (wiggle > 0.5))
        shape = np.sin(np.pi * np.linspace(0, 1, anomaly.length)) ** 0.5
        channels["latency_ms"][s:e] += 2.0 * channels["latency_ms"][s:e] * shape
        channels["errors"][s:e] += rng.poisson(25 * shape)
        channels["cpu_pct"][s:e] += 35 * shape
    else:
        rows = e - (s - PRECURSOR_ROWS)
        memory = channels["memory_pct"]
        base = memory[s - PRECURSOR_ROWS]
        # GC stops: memory keeps its level and then climbs; latency follows memory pressure
        climb = np.concatenate([np.linspace(0, 2, PRECURSOR_ROWS), np.linspace(2, 30, anomaly.length)])
        memory[s - PRECURSOR_ROWS: e] = base + climb + 0.6 * rng.standard_normal(rows)
        channels["cpu_pct"][pre] += 6.0 * ramp * rng.standard_normal(PRECURSOR_ROWS)
        channels["latency_ms"][s:e] += 1.5 * np.linspace(0, 30, anomaly.length)
