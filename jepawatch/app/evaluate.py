"""`evaluate`: the paper's next-window protocol on labelled data, and the label-free risk against
simple detectors fitted on the training data."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from jepawatch.adapters import ReadOptions, source_name
from jepawatch.app.common import DataSource, Warn, as_data, warn_python
from jepawatch.bundle import Bundle
from jepawatch.devices import resolve_device
from jepawatch.errors import ConfigError, DataError, JepawatchError
from jepawatch.evaluation.baselines import fit_baselines, windows_of
from jepawatch.evaluation.early_warning import compare
from jepawatch.evaluation.labelled import LabelledPairs, labelled_pairs, read_labelled_part, read_training
from jepawatch.feedback import feedback_file_of, feedback_summary, read_feedback
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
    feedback: dict | None = None  # with a feedback file: its verdicts on the evaluated windows (`feedback_section`)

    def to_dict(self) -> dict:
        result = {"model": self.model, "model_kind": self.model_kind, "features": self.features, "data": self.data,
                  "window": self.window, "label_free_unavailable": self.label_free_unavailable,
                  "protocol_unavailable": self.protocol_unavailable, **self.protocol}
        if self.early_warning is not None:
            result["early_warning"] = self.early_warning
        if self.feedback is not None:
            result["feedback"] = self.feedback
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
             adapter: str | None = None, options: ReadOptions | None = None, warn: Warn = warn_python,
             feedback: str | Path | None = None) -> EvaluationReport:
    """Evaluate `bundle` on labelled `data`; nothing is fitted on the last 20%. `feedback`: a feedback
    file (or the state file it is beside) whose verdicts are counted on the evaluated windows."""
    if seeds < 1:
        raise ConfigError("--seeds must be at least 1")
    feedback_file = None if feedback is None else feedback_file_of(Path(feedback))
    verdicts = None if feedback_file is None else read_feedback(feedback_file)  # a bad file: said before the work
    data, options = as_data(data), options or ReadOptions()
    torch_device = resolve_device(device)
    representation = Representation(bundle, torch_device, features)
    try:
        scorer, no_label_free = Scorer(bundle, torch_device), None
    except JepawatchError as exc:  # an ablation without codes or predictors, or the Temporal JEPA
        scorer, no_label_free = None, str(exc)
    labelled = read_labelled_part(data, adapter, options, bundle)
    series, labels, source, step = labelled.series, labelled.labels, labelled.source, labelled.step
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
    section = None
    if verdicts is not None:
        alert_at = None if scorer is None else scorer.calibration.alert_at
        section = {"file": str(feedback_file), **feedback_section(verdicts, pairs, alert_at, labelled.timestamps)}
    return EvaluationReport(str(bundle.path), bundle.run.model_kind, representation.features, source, pairs.window,
                            no_label_free, no_protocol, protocol, early_warning, section)


def feedback_section(verdicts: list, pairs: LabelledPairs, alert_at: float | None, timestamps: np.ndarray | None) -> dict:
    """The verdicts on the evaluated windows W_1 .. W_{N-2} (those with a risk; rows of the labelled data,
    and times when it has dates): per kind, the verdicts, the windows they cover, and how many of those
    the label-free risk alerts on at its alert level (None without a label-free risk)."""
    window, n = pairs.window, len(pairs)
    starts = np.arange(1, n) * window  # (n-1,)
    ends = starts + window - 1
    times = timestamps if timestamps is not None and np.issubdtype(np.asarray(timestamps).dtype, np.datetime64) else None
    alerts = None if alert_at is None else np.nan_to_num(pairs.label_free_risk[1:], nan=0.0) >= alert_at
    summary = feedback_summary(verdicts, starts, ends, alerts, None if times is None else times[starts],
                               None if times is None else times[ends])
    return {"windows": int(len(starts)), "alert_at": alert_at, **summary}


def _pct(value: float | None) -> float:
    return 100 * value if value is not None and math.isfinite(value) else math.nan


__all__ = ["EvaluationReport", "evaluate"]
