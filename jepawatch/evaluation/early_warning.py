"""The label-free risk against simple detectors, on the same windows, in the same run.

For the pairs (W_t, y_{t+1}) of the labelled data (`labelled.py`), every score of W_t (the
bundle's label-free risk, each baseline of `baselines.py`, and with `ablate` the risk
recalibrated without each component, with the statistics components only and with the model
components only) is measured by:
- `next`: ROC AUC of the score of W_t for y_{t+1};
- `normal_context`: the same on the pairs whose W_t is normal (y_t = 0): true early warning.
On two sets of pairs: `whole`, every pair of the labelled data with a predecessor window (t >= 1;
nothing is fitted on it: baselines and risk come from the training data), and `test`, the
protocol's last 20%. Event-level figures (`events.py`) on the whole data, where an operator acts:
the label-free risk's alerts at the product's alert level, and every score (the risk and each
baseline) at the false-alarm budgets of `events.BUDGETS` and at the risk's own false-alarm rate
(`at_alert_rate`), the thresholds set on the scored normal windows (for comparison only:
detectors side by side at the same false-alarm rate).
"""

from __future__ import annotations

import numpy as np

from jepawatch.evaluation.events import event_summary, events_at_budgets, false_alarm_windows
from jepawatch.evaluation.labelled import LabelledPairs
from jepawatch.evaluation.metrics import auc
from jepawatch.evaluation.protocol import split_points
from jepawatch.scoring.label_free import COMPONENTS, MODEL_COMPONENTS, STATS_COMPONENTS, FusedRisk


def compare(pairs: LabelledPairs, baseline_scores: dict[str, np.ndarray], calibration, alert_at: float,
            ablate: bool = False, step_seconds: float | None = None) -> dict:
    """baseline_scores: name -> (N-1,) scores of W_0 .. W_{N-2}; calibration: the bundle's risk;
    step_seconds: the data's time step (false alarms per day)."""
    n = len(pairs)
    _, val_end = split_points(n)
    parts = {"whole": np.arange(1, n), "test": np.arange(max(1, val_end), n)}
    # AUC of the risk's score: the same order as the risk, and it still ranks windows whose risk rounds to 1
    scores = {"label_free_risk": pairs.label_free_score, **baseline_scores}
    ablation, ablation_risks = {}, {}
    if ablate and isinstance(calibration, FusedRisk):
        ablation, ablation_risks = _ablated_risks(calibration, pairs.risk_components)
    table = {part: {name: _aucs(pairs, s, index) for name, s in {**scores, **ablation}.items()}
             for part, index in parts.items()}
    best = {part: _best_baseline(table[part], baseline_scores) for part in parts}
    risk = pairs.label_free_risk
    alerts = np.nan_to_num(risk[1:], nan=0.0) >= alert_at  # alert raised at the end of W_1 .. W_{N-2}
    events = event_summary(pairs.step_labels, pairs.window, 1, alerts, step_seconds).to_dict()
    # every score of W_1 .. W_{N-2} (W_0 has no predecessor, so no risk), at the same false-alarm budgets
    budgets = {name: events_at_budgets(pairs.step_labels, pairs.window, 1, np.asarray(s, dtype=float)[1:],
                                       step_seconds=step_seconds) for name, s in {**scores, **ablation}.items()}
    # every score at the risk's own false-alarm rate at its alert level: what each detector catches
    # for the false alarms the product costs
    eligible = int(false_alarm_windows(pairs.step_labels, pairs.window, 1, len(alerts)).sum())
    rate = events["false_alarms"] / eligible if eligible else 0.0
    at_alert_rate = {name: events_at_budgets(pairs.step_labels, pairs.window, 1, np.asarray(s, dtype=float)[1:], (rate,),
                                             step_seconds)[0] for name, s in {**scores, **ablation}.items()}
    # each recalibrated variant at its own alert level, as it would alert if it were the product's risk
    ablation_events = {name: event_summary(pairs.step_labels, pairs.window, 1,
                                           np.nan_to_num(r[1:], nan=0.0) >= alert_at, step_seconds).to_dict()
                       for name, r in ablation_risks.items()}
    components = list(getattr(calibration, "components", []))
    return {"scores": table, "best_baseline": best, "events": {"alert_at": alert_at, **events}, "budgets": budgets,
            "at_alert_rate": at_alert_rate, "ablation_events": ablation_events,
            "risk_components": components, "ablation": sorted(ablation), "baselines": sorted(baseline_scores)}


def _ablated_risks(calibration: FusedRisk, values: dict[str, np.ndarray]) -> tuple[dict, dict]:
    """label -> (N-1,) fused score, and label -> (N-1,) risk, of each recalibrated variant (NaN for t = 0)."""
    variants = {}
    for name in calibration.components:
        if len(calibration.components) > 1:
            variants[f"risk without {name}"] = calibration.without(name)
    variants["risk, statistics components only"] = calibration.only(STATS_COMPONENTS)
    variants["risk, model components only"] = calibration.only(MODEL_COMPONENTS)
    variants["risk, all components"] = calibration.only(COMPONENTS)
    for name in COMPONENTS:
        variants[f"component {name} alone"] = calibration.only([name])
    # the strongest evidence instead of the sum (a channel far out is not diluted by the others)
    variants["risk, statistics components, max"] = calibration.only(STATS_COMPONENTS, fusion="max")
    variants["risk, all components, max"] = calibration.only(COMPONENTS, fusion="max")
    finite = np.isfinite(values[COMPONENTS[0]])  # every pair but the first (no predecessor)
    scored = {k: v[finite] for k, v in values.items()}
    out, risks = {}, {}
    for label, variant in variants.items():
        out[label], risks[label] = np.full(len(finite), np.nan), np.full(len(finite), np.nan)
        out[label][finite] = variant.score_of_values(scored)
        risks[label][finite] = variant.risk_of_score(out[label][finite])
    return out, risks


def _aucs(pairs: LabelledPairs, scores: np.ndarray, index: np.ndarray) -> dict:
    target, context, s = pairs.target[index], pairs.context[index], np.asarray(scores, dtype=float)[index]
    normal = context == 0
    return {"next": auc(target, s), "normal_context": auc(target[normal], s[normal])}


def _best_baseline(table: dict, baselines: dict) -> dict:
    out = {}
    for measure in ("next", "normal_context"):
        finite = {name: table[name][measure] for name in baselines if np.isfinite(table[name][measure])}
        if finite:
            name = max(finite, key=finite.get)
            out[measure] = {"name": name, "auc": finite[name],
                            "margin": table["label_free_risk"][measure] - finite[name]}
    return out
