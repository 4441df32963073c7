"""`jepawatch evaluate`: the paper's downstream protocol, and beside it what the protocol hides.

Protocol (the paper's App. B.4): pairs (W_t, y_{t+1}) of the labelled data, split chronologically
6:2:2; an MLP head on the frozen, max-pooled code probabilities (or another representation of
the pre-trained model, `representation.py`) trained with BCE on the first 60%; the threshold maximising F1 on the next 20%; precision, recall, F1 (p > threshold) and ROC
AUC on the last 20%; mean and std over seeds (the seed changes the head's initialisation and
batch order; the pre-trained model is fixed). Nothing is fitted on the last 20%: preprocessing
and the label-free calibration come from the training data, the head and threshold from the
first 80%.

Beside it, on the same test pairs: AUPRC and the positive base rate; the always-positive F1;
the label-free risk's AUC (no labels used at all); the same head and threshold rule on raw
per-channel window statistics (does pre-training help?); AUC split into normal-context pairs
(y_t = 0: true early warning) and continuation pairs (y_t = 1); and the lead time of the first
alert before each anomalous segment that starts in the test part.
"""

from __future__ import annotations

from dataclasses import asdict

import numpy as np
import torch

from jepawatch.errors import DataError
from jepawatch.evaluation.labelled import LabelledPairs
from jepawatch.evaluation.metrics import (
    always_positive_f1,
    auc,
    auc_interval,
    auprc,
    lead_times,
    threshold_metrics,
)
from jepawatch.scoring.head import HeadConfig, best_f1_threshold, fit_standardiser, head_inputs, predict, train_head

SPLIT = (0.6, 0.2, 0.2)


def split_points(n_pairs: int) -> tuple[int, int]:
    """Ends of the train and validation parts of a 6:2:2 chronological split."""
    train_end = int(round(n_pairs * SPLIT[0]))
    val_end = int(round(n_pairs * (SPLIT[0] + SPLIT[1])))
    return train_end, val_end


def run_protocol(pairs: LabelledPairs, seeds: list[int], head_cfg: HeadConfig | None = None,
                 add_window_stats: bool = False) -> dict:
    """The protocol on `pairs`; add_window_stats: the model head reads the raw statistics beside its features."""
    head_cfg = head_cfg or HeadConfig()
    n = len(pairs)
    train_end, val_end = split_points(n)
    parts = {"train": slice(0, train_end), "val": slice(train_end, val_end), "test": slice(val_end, n)}
    for name, part in parts.items():
        labels = pairs.target[part]
        if len(labels) == 0 or (name != "test" and labels.sum() == 0):
            raise DataError(f"the {name} part of the 6:2:2 split has {len(labels)} pairs and {int(labels.sum())} "
                            "positives; the protocol needs positives in train and validation: give more labelled data")
    test_labels = pairs.target[parts["test"]]
    test_context = pairs.context[parts["test"]]

    standardiser = fit_standardiser(pairs.raw_stats[parts["train"]])  # leak-free: the train part only
    raw_stats = (pairs.raw_stats - standardiser[0]) / standardiser[1]
    model_features = head_inputs(pairs.features, pairs.raw_stats, standardiser if add_window_stats else None)
    per_seed = {"model_head": [], "raw_stats": []}
    for seed in seeds:
        for name, features in (("model_head", model_features), ("raw_stats", raw_stats)):
            per_seed[name].append(_one_seed(pairs, features, parts, seed, head_cfg))

    label_free = pairs.label_free_risk[parts["test"]]
    return {
        "pairs": {name: {"windows": len(pairs.target[p]), "positives": int(pairs.target[p].sum())} for name, p in parts.items()},
        "window": pairs.window,
        "seeds": list(seeds),
        "head": asdict(head_cfg),
        "model_head": _summary(per_seed["model_head"]),
        "raw_stats_head": _summary(per_seed["raw_stats"]),
        "base_rate": float(test_labels.mean()),
        "always_positive_f1": always_positive_f1(test_labels),
        "label_free_auc": auc(test_labels, label_free),
        "label_free_auc_normal_context": auc(test_labels[test_context == 0], label_free[test_context == 0]),
        "continuation_share": float(test_context[test_labels == 1].mean()) if test_labels.sum() else float("nan"),
        "per_seed": per_seed,
    }


def _one_seed(pairs: LabelledPairs, features: torch.Tensor, parts: dict, seed: int, head_cfg: HeadConfig) -> dict:
    head = train_head(features[parts["train"]], pairs.target[parts["train"]], head_cfg, seed)
    threshold = best_f1_threshold(predict(head, features[parts["val"]]), pairs.target[parts["val"]])
    test = parts["test"]
    probabilities = predict(head, features[test])
    labels, context = pairs.target[test], pairs.context[test]
    result = {
        "seed": seed,
        "threshold": threshold,
        **threshold_metrics(labels, probabilities, threshold),
        "auc": auc(labels, probabilities),
        **dict(zip(("auc_low95", "auc_high95"), auc_interval(labels, probabilities))),
        "auprc": auprc(labels, probabilities),
        "auc_normal_context": auc(labels[context == 0], probabilities[context == 0]),
        "auc_continuation": auc(labels[context == 1], probabilities[context == 1]),
    }
    result.update(lead_times(pairs.step_labels, pairs.window, test.start + 1, probabilities > threshold, labels))
    return result


def _summary(results: list[dict]) -> dict:
    keys = [k for k in results[0] if k != "seed"]
    out = {}
    for key in keys:
        values = np.array([r[key] for r in results], dtype=float)
        finite = values[np.isfinite(values)]
        out[key] = {"mean": float(finite.mean()) if len(finite) else float("nan"),
                    "std": float(finite.std()) if len(finite) else float("nan")}
    return out
