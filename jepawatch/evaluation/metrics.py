"""Window-level metrics (scikit-learn), with the cases that break them handled."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import (
    average_precision_score,
    precision_recall_fscore_support,
    roc_auc_score,
)


def threshold_metrics(labels: np.ndarray, probabilities: np.ndarray, threshold: float) -> dict:
    """Precision, recall, F1 of (p > threshold), as eq. 29-30."""
    predicted = (probabilities > threshold).astype(int)
    precision, recall, f1, _ = precision_recall_fscore_support(labels, predicted, average="binary", zero_division=0)
    return {"precision": float(precision), "recall": float(recall), "f1": float(f1)}


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """ROC AUC; NaN when only one class is present (or no finite score)."""
    keep = np.isfinite(scores)
    labels, scores = labels[keep], scores[keep]
    if len(np.unique(labels)) < 2:
        return float("nan")
    return float(roc_auc_score(labels, scores))


def auc_interval(labels: np.ndarray, scores: np.ndarray, resamples: int = 1000, seed: int = 0) -> tuple[float, float]:
    """95% percentile-bootstrap interval of the ROC AUC over the scored windows (resampled with
    replacement; resamples with one class only are skipped). How much the AUC of a small test part
    (MSL: 147 windows, 18 positive) depends on which windows happen to be in it."""
    rng = np.random.default_rng(seed)
    keep = np.isfinite(scores)
    labels, scores = labels[keep], scores[keep]
    values = []
    for _ in range(resamples):
        pick = rng.integers(0, len(labels), len(labels))
        if 0 < labels[pick].sum() < len(pick):
            values.append(roc_auc_score(labels[pick], scores[pick]))
    if not values:
        return float("nan"), float("nan")
    low, high = np.percentile(values, [2.5, 97.5])
    return float(low), float(high)


def auprc(labels: np.ndarray, scores: np.ndarray) -> float:
    if labels.sum() == 0:
        return float("nan")
    return float(average_precision_score(labels, scores))


def always_positive_f1(labels: np.ndarray) -> float:
    rate = labels.mean() if len(labels) else 0.0
    return float(2 * rate / (1 + rate)) if rate > 0 else 0.0


def lead_times(step_labels: np.ndarray, window: int, first_target: int, alerts: np.ndarray,
               targets: np.ndarray) -> dict:
    """Early warning per anomalous segment that starts inside the scored target windows.

    alerts[i] is the prediction for target window `first_target + i` (made at that window's
    start, from the window before it). A segment starting at step s in target window j is
    warned of when alerts for windows i..j are all on; its lead time is s - start(W_i) steps,
    where the run of alerts is followed back only through normal windows (targets[i-1] == 0),
    so the tail of an earlier anomaly does not count as warning of the next one.
    """
    starts = np.flatnonzero(np.diff(np.concatenate([[0], step_labels])) == 1)  # first step of each segment
    leads, total = [], 0
    for s in starts:
        j = s // window - first_target
        if not 0 <= j < len(alerts):
            continue
        total += 1
        if not alerts[j]:
            continue
        i = j
        while i > 0 and alerts[i - 1] and not targets[i - 1]:
            i -= 1
        leads.append(s - (first_target + i) * window)
    return {"segments": total, "warned": len(leads), "mean_lead_steps": float(np.mean(leads)) if leads else float("nan")}
