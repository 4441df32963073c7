"""Labelled data as the paper's downstream protocol sees it (the paper's App. B.4).

The series is cut into non-overlapping windows W_0 .. W_{N-1} of T_w steps from its first row;
a window's label is 1 if any of its steps is labelled anomalous (eq. 28); pair t is
(W_t, y_{t+1}). Features per pair: what the pre-trained model makes of W_t (the head's input;
`representation.py` — by default the online fine code probabilities max-pooled over channels),
raw per-channel statistics of W_t (the baseline's input), and the label-free risk of W_t (NaN
for W_0, which has no predecessor, and for every pair when the bundle cannot score: an ablation
without codes or predictors, or the Temporal JEPA).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
import torch

from jepawatch.adapters import ReadOptions, read_dataset, source_name
from jepawatch.adapters.files import same_file
from jepawatch.errors import DataError
from jepawatch.evaluation.representation import Representation
from jepawatch.scoring.features import window_statistics
from jepawatch.scoring.label_free import component_values
from jepawatch.scoring.scorer import Scorer
from jepawatch.scoring.stats_reference import StatsReference


@dataclass
class LabelledPairs:
    features: torch.Tensor  # (N-1, ...) head input from W_t, e.g. (N-1, P, K) pooled codes
    raw_stats: torch.Tensor  # (N-1, V, 5) mean, std, min, max, last of W_t per channel
    label_free_risk: np.ndarray  # (N-1,) NaN for t = 0
    label_free_score: np.ndarray  # (N-1,) the risk before calibration (same order, unbounded), NaN for t = 0
    target: np.ndarray  # (N-1,) y_{t+1}
    context: np.ndarray  # (N-1,) y_t: 1 when W_t itself is anomalous (continuation)
    window: int
    step_labels: np.ndarray  # (N*T_w,) the per-step labels covered by the windows
    risk_components: dict[str, np.ndarray] = field(default_factory=dict)  # (N-1,) each, NaN for t = 0
    baseline_scores: dict[str, np.ndarray] = field(default_factory=dict)  # (N-1,) each: simple detectors of W_t

    def __len__(self) -> int:
        return len(self.target)


def labelled_pairs(representation: Representation, series: np.ndarray, labels: np.ndarray,
                   scorer: Scorer | None = None, baselines: dict | None = None) -> LabelledPairs:
    """series: (T, V) preprocessed; labels: (T,) 0/1 per step; scorer: the label-free risk, when the
    bundle has one; baselines: name -> scorer of windows (`baselines.fit_baselines`)."""
    window = representation.window
    n_windows = len(series) // window
    if n_windows < 3:
        raise DataError(f"the labelled data holds {n_windows} whole window(s) of {window} steps; "
                        "the protocol needs many more (give the full test part)")
    covered = series[: n_windows * window]
    window_labels = labels[: n_windows * window].reshape(n_windows, window).max(axis=1).astype(np.uint8)  # (N,)
    windows = torch.from_numpy(np.ascontiguousarray(covered)).reshape(n_windows, window, -1)  # (N, T, V)

    features = representation(windows[:-1])  # W_0 .. W_{N-2}
    starts = np.arange(window, (n_windows - 1) * window, window)  # W_1 .. W_{N-2}, each with its predecessor
    label_free = np.full(n_windows - 1, np.nan)
    label_free_score = np.full(n_windows - 1, np.nan)
    components = {}
    if scorer is not None and len(starts):
        signals = scorer.signals(covered, starts)
        _, label_free[1:], label_free_score[1:] = scorer.risks(signals)
        reference = getattr(scorer.calibration, "reference", None)
        if isinstance(reference, StatsReference):
            for name, values in component_values(signals, reference).items():
                components[name] = np.concatenate([[np.nan], values])
    baseline_scores = {name: np.asarray(score(windows[:-1]), dtype=float) for name, score in (baselines or {}).items()}
    context_windows = windows[:-1]
    raw_stats = window_statistics(context_windows)  # (N-1, V, 5)
    return LabelledPairs(features=features, raw_stats=raw_stats, label_free_risk=label_free, label_free_score=label_free_score,
                         target=window_labels[1:], context=window_labels[:-1], window=window,
                         step_labels=labels[: n_windows * window].astype(np.uint8),
                         risk_components=components, baseline_scores=baseline_scores)


def read_labelled(data, adapter: str | None, options, bundle) -> tuple[np.ndarray, np.ndarray, str]:
    """The labelled part of DATA (a benchmark's test part, or a file with a label column),
    preprocessed with the bundle's training statistics: (series (T, V), labels (T,), source)."""
    series, labels, source, _ = read_labelled_with_step(data, adapter, options, bundle)
    return series, labels, source


def read_labelled_with_step(data, adapter: str | None, options, bundle) -> tuple[np.ndarray, np.ndarray, str, float | None]:
    """`read_labelled`, and the data's time step in seconds (the median step of its time column;
    None without one), for false alarms per day."""
    part = read_labelled_part(data, adapter, options, bundle)
    return part.series, part.labels, part.source, part.step


@dataclass
class LabelledPart:
    series: np.ndarray  # (T, V) preprocessed
    labels: np.ndarray  # (T,) 0/1
    source: str
    step: float | None  # the median time step in seconds (None without a time column)
    timestamps: np.ndarray | None  # (T,) as read: datetime64 or numeric, or None


def read_labelled_part(data, adapter: str | None, options, bundle) -> LabelledPart:
    """The labelled part of DATA as `read_labelled_with_step` reads it, with its rows' timestamps."""
    dataset = read_dataset(data, adapter, replace(options, columns=tuple(bundle.preprocess.channels)))
    part = dataset.part("test")
    if part.labels is None:
        raise DataError(f"{source_name(data)} has no labels; give --label-col COLUMN (0/1), or a benchmark folder with test labels")
    return LabelledPart(bundle.preprocess.transform(part.values, part.channels), part.labels, dataset.source,
                        step_seconds(part.timestamps), part.timestamps)


def step_seconds(timestamps: np.ndarray | None) -> float | None:
    """The median time step in seconds of datetime64 timestamps; None for none, numeric or unordered ones."""
    if timestamps is None or len(timestamps) < 2 or not np.issubdtype(np.asarray(timestamps).dtype, np.datetime64):
        return None
    steps = np.diff(np.asarray(timestamps).astype("datetime64[ns]").astype(np.int64)) / 1e9
    step = float(np.median(steps))
    return step if step > 0 else None


def read_training(data, adapter: str | None, options, bundle, train_data=None, warn=lambda message: None) -> np.ndarray:
    """The training series the label-free baselines are fitted on, preprocessed (T, V): `train_data`
    when given, else DATA's train part when DATA is a benchmark layout, else the file the bundle was
    trained on (its recorded source)."""
    from pathlib import Path

    # Read as `train` read it: the labelled data's options (its label column, its timestamp column)
    # need not fit the training file; only the model's channels are read.
    columns = ReadOptions(label_column=None, timestamp_column=bundle.data.get("timestamp_column"),
                          columns=tuple(bundle.preprocess.channels))
    if train_data is None:
        dataset = read_dataset(data, adapter, replace(options, columns=tuple(bundle.preprocess.channels)))
        if dataset.is_benchmark:
            part = dataset.part("train")
            return bundle.preprocess.transform(part.values, part.channels)
        train_data = bundle.data.get("source")
        if not train_data or not Path(train_data).exists():
            raise DataError(f"the data {bundle.name} was trained on ({train_data}) is not there; give it with "
                            "--train-data FILE (the label-free baselines are fitted on it)")
        adapter = bundle.data.get("adapter")
    if not isinstance(train_data, pd.DataFrame) and not isinstance(data, pd.DataFrame) and \
            same_file(Path(train_data), Path(data)):
        warn(f"{data} is the data the baselines are fitted on (and, as the bundle's own source, what it was trained on): "
             "the label-free figures are in-sample; give other labelled data, or --train-data with the normal data")
    part = read_dataset(train_data if isinstance(train_data, pd.DataFrame) else Path(train_data), adapter,
                        columns).part("train")
    return bundle.preprocess.transform(part.values, part.channels)
