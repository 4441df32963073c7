"""`calibrate`: the supervised next-window head on labelled data, stored in the bundle with its threshold."""

from __future__ import annotations

from jepawatch.adapters import ReadOptions
from jepawatch.app.common import DataSource, as_data
from jepawatch.bundle import HEAD_CONFIG, HEAD_WEIGHTS, update_bundle
from jepawatch.errors import ConfigError, DataError
from jepawatch.evaluation.labelled import labelled_pairs, read_labelled
from jepawatch.evaluation.metrics import auc, threshold_metrics
from jepawatch.evaluation.representation import Representation
from jepawatch.scoring.head import (
    HEAD_FEATURES,
    HeadConfig,
    best_f1_threshold,
    fit_standardiser,
    head_inputs,
    head_to_bundle,
    predict,
    train_head,
)
from jepawatch.scoring.scorer import Scorer


def calibrate(scorer: Scorer, data: DataSource, *, adapter: str | None = None, options: ReadOptions | None = None,
              train_fraction: float = 0.75, seed: int = 0, features: str = "codes+stats") -> dict:
    """Train the head on the earliest `train_fraction` of the labelled windows, pick the F1-optimal
    threshold on the rest, and store both in the bundle; returns the head's provenance (what
    `calibrate --json` prints)."""
    if features not in HEAD_FEATURES:
        raise ConfigError(f"--features must be one of {', '.join(HEAD_FEATURES)}, not {features!r}")
    if not 0 < train_fraction < 1:
        raise ConfigError("--train-fraction must be between 0 and 1")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**64:
        raise ConfigError(f"--seed must be a whole number from 0 to 2**64 - 1, not {seed!r}")
    bundle = scorer.bundle
    series, labels, source = read_labelled(as_data(data), adapter, options or ReadOptions(), bundle)
    pairs = labelled_pairs(Representation(bundle, scorer.device), series, labels)  # the head reads eq. 31's pooled codes
    cut = int(round(len(pairs) * train_fraction))
    fit, pick = slice(0, cut), slice(cut, len(pairs))
    for name, part in (("training", fit), ("threshold", pick)):
        if pairs.target[part].sum() == 0:
            raise DataError(f"the {name} part of the labelled windows has no anomalous next window; "
                            "give more labelled data or change --train-fraction")
    cfg = HeadConfig()
    standardiser = fit_standardiser(pairs.raw_stats[fit]) if features == "codes+stats" else None
    inputs = head_inputs(pairs.features, pairs.raw_stats, standardiser)  # (N, F)
    head = train_head(inputs[fit], pairs.target[fit], cfg, seed, standardiser)
    probabilities = predict(head, inputs[pick])
    threshold = best_f1_threshold(probabilities, pairs.target[pick])
    quality = {**threshold_metrics(pairs.target[pick], probabilities, threshold), "auc": auc(pairs.target[pick], probabilities)}
    provenance = {"source": source, "seed": seed, "train_windows": cut, "threshold_windows": len(pairs) - cut,
                  "train_positives": int(pairs.target[fit].sum()), "threshold_positives": int(pairs.target[pick].sum()),
                  "on_threshold_part": quality}
    meta, state = head_to_bundle(head, int(inputs.shape[1]), cfg, threshold, provenance)
    update_bundle(bundle.path, {HEAD_CONFIG: meta}, {HEAD_WEIGHTS: state})
    return {"bundle": str(bundle.path), "name": bundle.name, "features": features, "threshold": threshold, **provenance}
