"""`evaluate`: the paper's next-window protocol on labelled data, and the label-free risk against
simple detectors fitted on the training data."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd

from jepawatch.adapters import ReadOptions, source_name
from jepawatch.app.common import DataSource, Warn, as_data, warn_python
from jepawatch.bundle import Bundle
from jepawatch.devices import resolve_device
from jepawatch.errors import ConfigError, DataError, JepawatchError
from jepawatch.evaluation.baselines import fit_baselines, windows_of
from jepawatch.evaluation.early_warning import compare
from jepawatch.evaluation.labelled import labelled_pairs, read_labelled_with_step, read_training
from jepawatch.evaluation.protocol import run_protocol
from jepawatch.evaluation.representation import Representation
from jepawatch.scoring.scorer import Scorer

# The head measures of the protocol's table: (row name, key).
MEASURES = (("F1 (paper)", "f1"), ("precision", "precision"), ("recall", "recall"), ("AUC (paper)", "auc"),
            ("AUPRC", "auprc"), ("AUC, y_t = 0", "auc_normal_context"), ("AUC, y_t = 1", "auc_continuation"))


@dataclass
class EvaluationReport:
    """What `evaluate` measured. `to_dict()` is `evaluate --json`; `table()` the headline figures."""

    model: str  # the bundle's path
    model_kind: str
    features: str  # what the head read
    data: str  # the labelled data
    window: int
    label_free_unavailable: str | None  # why the bundle has no label-free risk (None: it has one)
    protocol_unavailable: str | None  # why the supervised protocol could not run (None: it ran)
    protocol: dict = field(default_factory=dict)  # pairs, seeds, model_head, raw_stats_head, base rate, ...
    early_warning: dict | None = None  # the label-free risk against the baselines, and its alerts as events

    def to_dict(self) -> dict:
        result = {"model": self.model, "model_kind": self.model_kind, "features": self.features, "data": self.data,
                  "window": self.window, "label_free_unavailable": self.label_free_unavailable,
                  "protocol_unavailable": self.protocol_unavailable, **self.protocol}
        if self.early_warning is not None:
            result["early_warning"] = self.early_warning
        return result

    def table(self) -> pd.DataFrame:
        """Next-window prediction on the test 20%, in %: one row per measure, the mean over seeds of the
        model's head and of the raw-statistics head, and the label-free risk's AUCs; empty when the
        protocol could not run."""
        if self.protocol_unavailable or not self.protocol:
            return pd.DataFrame(columns=["model_head", "raw_stats_head", "label_free"])
        label_free = {"auc": self.protocol.get("label_free_auc"),
                      "auc_normal_context": self.protocol.get("label_free_auc_normal_context")}
        rows = {name: {"model_head": _pct(self.protocol["model_head"][key]["mean"]),
                       "raw_stats_head": _pct(self.protocol["raw_stats_head"][key]["mean"]),
                       "label_free": _pct(label_free.get(key))} for name, key in MEASURES}
        return pd.DataFrame.from_dict(rows, orient="index")


def evaluate(bundle: Bundle, data: DataSource, *, seeds: int = 5, features: str | None = None,
             train_data: DataSource | None = None, ablate_risk: bool = False, device: str | None = None,
             adapter: str | None = None, options: ReadOptions | None = None, warn: Warn = warn_python) -> EvaluationReport:
    """Evaluate `bundle` on labelled `data`; nothing is fitted on the last 20%."""
    if seeds < 1:
        raise ConfigError("--seeds must be at least 1")
    data, options = as_data(data), options or ReadOptions()
    torch_device = resolve_device(device)
    representation = Representation(bundle, torch_device, features)
    try:
        scorer, no_label_free = Scorer(bundle, torch_device), None
    except JepawatchError as exc:  # an ablation without codes or predictors, or the Temporal JEPA
        scorer, no_label_free = None, str(exc)
    series, labels, source, step = read_labelled_with_step(data, adapter, options, bundle)
    training = read_training(data, adapter, options, bundle, None if train_data is None else as_data(train_data), warn=warn)
    baselines = fit_baselines(windows_of(training, representation.window))
    pairs = labelled_pairs(representation, series, labels, scorer, baselines)
    if pairs.target.sum() == 0:
        raise DataError(f"{source_name(data)} has no anomalous window (every label is 0): nothing to evaluate; "
                        "give labelled data with anomalies")
    try:
        protocol, no_protocol = run_protocol(pairs, list(range(seeds)), add_window_stats=representation.adds_window_stats), None
    except DataError as exc:  # too few positives for a head: the label-free comparison still stands
        protocol, no_protocol = {}, str(exc)
    early_warning = None
    if scorer is not None:
        early_warning = compare(pairs, pairs.baseline_scores, scorer.calibration, scorer.calibration.alert_at, ablate_risk,
                                step)
    return EvaluationReport(str(bundle.path), bundle.run.model_kind, representation.features, source, pairs.window,
                            no_label_free, no_protocol, protocol, early_warning)


def _pct(value: float | None) -> float:
    return 100 * value if value is not None and math.isfinite(value) else math.nan


__all__ = ["EvaluationReport", "evaluate"]
