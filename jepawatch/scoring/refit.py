"""A refit: the label-free risk's reference of normal behaviour fitted again on recent data, the
weights as they are (issue "Quiet under benign change").

Normal behaviour moves (a level wanders, a season turns, a system comes back from maintenance at
another operating point); a reference fixed at training time then calls every window unusual. A
refit fits what `--adapt` fits for another system, on the newest stretch of this one: the
statistics reference and the label-free calibration (`label_free_calibration.calibrate_label_free`),
with the bundle's preprocessing, components, fusion and alert level unchanged.

What it reads, and what it leaves out (`RecentData`, rows preprocessed by the bundle):
- rows that carry a label, or that an operator marked as an incident (`jepawatch feedback`), and
  `NEIGHBOUR_WINDOWS` windows on either side;
- windows that alert against the current reference in a run shorter than `SHIFT_WINDOWS` windows
  (an incident's shape), or in a longer run when they also stand out among the recent windows
  themselves (`standing_out`), and their neighbours, unless an operator marked them as a false
  alarm. After a step every window alerts against the old reference, in one long run: the data
  moving, exactly what the refit is for, so that run is kept but for the incidents within it,
  which stand out against the new operating point too; mark a stretch as an incident to leave it out;
- the newest `MARGIN_WINDOWS` windows until they pass the guard's check.

The new reference is training's windows (never an earlier refit's: no window joins twice, and a
stretch that has passed is forgotten) with the recent ones; the calibration's distributions are the
recent windows' alone, since the windows scored next are like them. A stretch an operator called a
false alarm joins the reference at every row offset (never the distributions).

The guard: an incident that builds up slowly (a creep) looks like a wandering level, window by
window. What tells them apart is that a creep keeps moving away: the newest windows, which the new
reference has not seen, still alert against it. When more than `CHECK_SHARE` of the newest
unlabelled, unmarked windows alert against the new reference, the refit is refused (not written;
`force` writes it anyway) and says so. Every refit, applied or refused, reports how far it moves the
reference: each channel's median window level (training standard deviations) and spread (ratio).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np
import torch

from jepawatch.data.windows import chronological_split
from jepawatch.errors import ConfigError, DataError
from jepawatch.bundle import MAX_REFITS, REFITS, RISK, TRAINED_RISK, update_bundle
from jepawatch.scoring.alert_rule import LABEL_FREE
from jepawatch.scoring.features import reference_statistics
from jepawatch.scoring.label_free import FusedRisk, risk_from_dict
from jepawatch.scoring.label_free_calibration import EXCLUSION_WINDOWS, calibrate_label_free
from jepawatch.scoring.scored_windows import scorable_starts
from jepawatch.scoring.stats_reference import Exclusion, StatsReference, kept_points

MARGIN_WINDOWS = 10  # the newest windows: the guard's check, never the reference
SHIFT_WINDOWS = 6  # an alerting run this long or longer is the data moving, not an incident's shape
FAR_OUT = 3.0  # Tukey's far-out fence: Q3 + 3 IQR
WANDER_LAGS = (2, 4, 8, 16, 32, 64)  # lags (windows) of the variance-ratio test for a wandering level
WANDER_RATIO = (1 / 3, 3.0)  # a random walk's ratio is 1 at every lag; noise's and a cycle's fall, a trend's grows as q
WANDER_GROWTH = 3.0  # and its variance grows with the lag: 32 times from lag 2 to 64 for a pure walk
NEIGHBOUR_WINDOWS = 2  # windows left out on either side of a labelled, marked or incident-like stretch
CHECK_SHARE = 0.5  # refused when more of the newest windows than this alert against the new reference
MIN_REFIT_WINDOWS = 8  # whole windows of normal rows a refit needs besides its check (else a DataError)


@dataclass
class RecentData:
    """The rows a refit reads, preprocessed and filled by the bundle (T, V), with where they are."""

    series: np.ndarray  # (T, V)
    first_row: int = 0  # stream row of series[0]
    times: np.ndarray | None = None  # (T,) display strings, or None
    labels: np.ndarray | None = None  # (T,) 1 = labelled anomalous
    incident: np.ndarray | None = None  # (T,) bool: an operator marked it as an incident
    false_alarm: np.ndarray | None = None  # (T,) bool: an operator marked it as a false alarm
    source: str = "data"

    def mask(self, name: str) -> np.ndarray:
        values = getattr(self, name)
        return np.zeros(len(self.series), dtype=bool) if values is None else np.asarray(values).astype(bool)


@dataclass
class RefitResult:
    risk: dict | None  # the new calibration: None when refused (and not forced)
    record: dict  # what happened, for the bundle's refit history (`info`, the report)

    @property
    def applied(self) -> bool:
        return self.risk is not None


def refit_calibration(scorer, recent: RecentData, *, margin_windows: int = MARGIN_WINDOWS, force: bool = False,
                      warn=lambda message: None, now: datetime | None = None) -> RefitResult:
    """Refit `scorer`'s label-free calibration on `recent` (see the module's docstring); the scorer is
    not changed (`apply` does that)."""
    old = scorer.calibration
    if not isinstance(old, FusedRisk):
        raise ConfigError(f"{scorer.bundle.name} carries the label-free risk of an older jepawatch, which a refit "
                          "cannot fit; retrain it with `jepawatch train`")
    if margin_windows < 0:
        raise ConfigError(f"the refit's margin must be 0 windows or more, not {margin_windows}")
    window, series = scorer.window, recent.series
    n_rows = len(series)
    level = scorer.alert_at if scorer.risk_source == LABEL_FREE else old.alert_at
    starts = scorable_starts(n_rows, window, window)  # every whole window after the first, end to end
    check_from = n_rows - margin_windows * window
    if len(starts) == 0 or check_from < MIN_REFIT_WINDOWS * window:
        need = (MIN_REFIT_WINDOWS + margin_windows) * window
        raise DataError(f"a refit needs at least {need} rows ({MIN_REFIT_WINDOWS} windows of {window} to fit on and "
                        f"{margin_windows} newest to check against); {recent.source} gives {n_rows}")
    signals = scorer.signals(series, starts)
    alert_before = old.risk(signals) >= level

    labelled, incident, false_alarm = recent.mask("labels"), recent.mask("incident"), recent.mask("false_alarm")
    reach = NEIGHBOUR_WINDOWS * window
    by_people = _widen(labelled, reach) | _widen(incident, reach)
    stands_out = standing_out(series, starts, by_people, window, scorer.bundle.run.model.patch_len)
    incident_like = np.zeros(n_rows, dtype=bool)
    for run in _runs(alert_before):
        short = len(run) < SHIFT_WINDOWS
        for i in run:
            rows = slice(int(starts[i]), int(starts[i]) + window)
            if (short or stands_out[i]) and not false_alarm[rows].all():
                incident_like[rows] = True
    left_out = {"alerted": _widen(incident_like, reach), "labelled": _widen(labelled, reach),
                "marked_incident": _widen(incident, reach)}
    excluded_by_people = left_out["labelled"] | left_out["marked_incident"]
    excluded = left_out["alerted"] | excluded_by_people
    kept = ~excluded
    kept[max(check_from, 0):] = False
    segments = [series[a:b] for a, b in _spans(kept) if b - a >= 2 * window]
    fit_windows = sum(len(s) // window for s in segments)
    if fit_windows < MIN_REFIT_WINDOWS:
        raise DataError(f"{recent.source} leaves {fit_windows} whole windows of normal rows to refit on (fewer than "
                        f"{MIN_REFIT_WINDOWS}) once alerted, labelled and marked stretches and the newest "
                        f"{margin_windows} windows are left out; give a longer stretch of recent data")
    base = trained(scorer.bundle, old)
    wandering = wandering_in_training(base, window, scorer.bundle.run.model.patch_len)
    # a stretch an operator called a false alarm joins the reference at every row offset, so that
    # one short stretch gives the k nearest neighbours a window like it looks for
    declared = [series[a:b] for a, b in _spans(false_alarm & ~excluded_by_people) if b - a >= window]
    val_fraction = scorer.bundle.run.train.val_fraction

    def fit(stretches: list[np.ndarray]) -> dict:
        fitted = calibrate_label_free(scorer.bundle.model, [chronological_split(s, window, val_fraction) for s in stretches],
                                      window, scorer.bundle.code_frequencies, scorer.device, warn, tuple(old.components),
                                      earlier=base, also_normal=declared, relative=wandering)
        return {**fitted, "alert_at": old.alert_at, "fusion": old.fusion}

    new = fit(segments)
    candidate = risk_from_dict(new)

    checked = (starts >= check_from) & ~_any_in(excluded | labelled | incident, starts, window)
    alert_after = candidate.risk(signals) >= level
    n_checked = int(checked.sum())
    alerting_after = int((alert_after & checked).sum())
    refused = n_checked > 0 and alerting_after > CHECK_SHARE * n_checked
    record = {
        "at": _rfc3339(now or datetime.now(timezone.utc)),
        "source": recent.source,
        "rows": {"first": recent.first_row, "last": recent.first_row + n_rows - 1, "reference": int(sum(len(s) for s in segments))},
        "times": None if recent.times is None or not n_rows else {"first": str(recent.times[0]), "last": str(recent.times[-1])},
        "windows": {"reference": int(new.get("reference_windows", 0)), "calibration": int(new.get("windows", 0)),
                    "left_out_rows": {k: int(v[:max(check_from, 0)].sum()) for k, v in left_out.items()}},
        "check": {"windows": n_checked, "alerting_before": int((alert_before & checked).sum()),
                  "alerting_after": alerting_after, "most": CHECK_SHARE},
        "moved": movement(old, candidate, scorer.channels),
        "relative_channels": [scorer.channels[c] for c in wandering],
        "applied": bool(not refused or force),
        "forced": bool(refused and force),
        "reason": None,
    }
    if not refused and n_checked:  # the newest windows pass the guard: they join the reference too
        segments = [series[a:b] for a, b in _spans(~excluded) if b - a >= 2 * window]
        new = fit(segments)
        record["windows"].update(reference=int(new.get("reference_windows", 0)), calibration=int(new.get("windows", 0)))
        record["rows"]["reference"] = int(sum(len(s) for s in segments))
        record["moved"] = movement(old, risk_from_dict(new), scorer.channels)
    if refused:
        record["reason"] = (f"{alerting_after} of the {n_checked} newest windows still alert against the new reference: "
                            "the data is still moving away (an incident building up?)")
    return RefitResult(new if (not refused or force) else None, record)


def trained(bundle, current: FusedRisk) -> FusedRisk:
    """The calibration training fitted: a refit extends it with the recent windows (never an earlier
    refit's, so that no window joins twice and a stretch that has passed is forgotten)."""
    if bundle.trained_risk is None:
        return current
    calibration = risk_from_dict(bundle.trained_risk)
    return calibration if isinstance(calibration, FusedRisk) else current


def standing_out(series: np.ndarray, starts: np.ndarray, excluded: np.ndarray, window: int, patch: int) -> np.ndarray:
    """(N,) for the windows at `starts`: whether each stands out among the recent windows themselves,
    its distance to those at least EXCLUSION_WINDOWS windows away (the calibration's leave-neighbourhood-
    out distance, in the space of `stats_reference`, every patch offset, the rows of `excluded` left out)
    beyond Tukey's far-out fence of those distances (Q3 + 3 IQR). After a step every window alerts
    against the old reference, in one long run; an incident within it still stands out among its
    neighbours in time, the new operating point does not."""
    offsets = np.arange(0, len(series) - window + 1, patch)
    offsets = offsets[~_any_in(excluded, offsets, window)]
    out = np.zeros(len(starts), dtype=bool)
    if len(offsets) < 2:
        return out
    windows = torch.from_numpy(np.ascontiguousarray(series[offsets[:, None] + np.arange(window)]))
    stats, recent = reference_statistics(windows), reference_statistics(windows[:, -patch:])
    exclusion = Exclusion(offsets, offsets[kept_points(len(offsets))], EXCLUSION_WINDOWS * window)
    distance = StatsReference.fit(stats, recent).neighbours(stats, recent, exclusion).numpy()
    finite = np.isfinite(distance)
    if finite.sum() < 4:
        return out
    q1, q3 = np.quantile(distance[finite], [0.25, 0.75])
    fence = q3 + FAR_OUT * (q3 - q1)
    where = {int(o): i for i, o in enumerate(offsets)}
    for j, start in enumerate(starts):
        i = where.get(int(start))
        out[j] = i is not None and bool(distance[i] > fence)  # inf: nothing far enough in time to compare
    return out


def apply(scorer, risk: dict) -> None:
    """Score with the refitted calibration from now on (the bundle on disk is written by the caller);
    the calibration training fitted stays the base of the next refit."""
    if scorer.bundle.trained_risk is None:
        scorer.bundle.trained_risk = scorer.bundle.risk
    scorer.bundle.risk = risk
    scorer.calibration = risk_from_dict(risk)


def wandering_in_training(calibration: FusedRisk, window: int, patch: int) -> list[int]:
    """`wandering_channels` of the training windows the calibration keeps (in time order, thinned
    evenly from every patch offset), taken about a window apart."""
    stats, _ = calibration.reference.statistics()  # (M, V, S)
    if not len(stats):
        return []
    rows_apart = patch * max(1.0, calibration.n_reference_windows / len(stats))
    step = max(1, int(round(window / rows_apart)))
    return wandering_channels(stats[::step, :, 0].double().numpy())


def wandering_channels(means: np.ndarray) -> list[int]:
    """The channels whose level wanders like a random walk, from their means over consecutive
    windows (n, V): the variance of the change over q windows grows in proportion to q (the variance
    ratio Var(m[j+q] - m[j]) / (q Var(m[j+1] - m[j])) within WANDER_RATIO for every q of WANDER_LAGS,
    Lo and MacKinlay's test), several times over those lags. Noise's ratio falls as 1/q and a cycle's
    variance stops growing; a trend's ratio grows as q: a creep is not wandering."""
    n = len(means)
    if n < 2 * max(WANDER_LAGS) + 4:
        return []
    var = {q: (means[q:] - means[:-q]).var(axis=0) for q in (1, *WANDER_LAGS)}
    moving = var[1] > 1e-12
    ratios = np.stack([var[q] / np.maximum(q * var[1], 1e-300) for q in WANDER_LAGS])  # (lags, V)
    inside = ((ratios >= WANDER_RATIO[0]) & (ratios <= WANDER_RATIO[1])).all(axis=0)
    growing = var[WANDER_LAGS[-1]] >= WANDER_GROWTH * var[WANDER_LAGS[0]]
    return [int(c) for c in np.flatnonzero(moving & inside & growing)]


def movement(old: FusedRisk, new: FusedRisk, channels: list[str], top: int = 3) -> dict:
    """How far a refit moves the reference: per channel, the change of the median window level in
    training standard deviations (the preprocessing's units) and the ratio of the median window
    spread; the `top` channels that move most."""
    s_old, s_new = old.reference.n_statistics, new.reference.n_statistics
    m_old, m_new = np.asarray(old.reference.median), np.asarray(new.reference.median)
    n = min(len(channels), old.reference.n_channels, new.reference.n_channels)
    level = m_new[np.arange(n) * s_new] - m_old[np.arange(n) * s_old]
    level[[c for c in new.reference.relative if c < n]] = 0.0  # followed within each window now: no level to move
    spread = m_new[np.arange(n) * s_new + 1] / np.maximum(m_old[np.arange(n) * s_old + 1], 1e-9)
    order = np.argsort(-np.abs(level))[:top]
    return {"largest_level_shift": round(float(np.abs(level).max()), 3) if n else 0.0,
            "channels": [{"channel": channels[i], "level": round(float(level[i]), 3), "spread": round(float(spread[i]), 3)}
                         for i in order]}


def describe(record: dict) -> str:
    """One line saying what a refit did."""
    moved = record["moved"]
    top = ", ".join(f"{c['channel']} {c['level']:+.2f} sd" for c in moved["channels"][:3])
    check = record["check"]
    head = "refit refused" if not record["applied"] else ("refit forced" if record.get("forced") else "refit")
    tail = record["reason"] if record.get("reason") else \
        f"{check['alerting_after']} of the {check['windows']} newest windows alert against it"
    wander = record.get("relative_channels") or []
    wandering = f"; {', '.join(wander)} wander: judged within each window, not by level" if wander else ""
    return (f"{head} on {record['source']} (rows {record['rows']['first']}-{record['rows']['last']}, "
            f"{record['windows']['reference']} reference windows): levels moved {top or 'nothing'}{wandering}; {tail}")


def marked_rows(verdicts, first_row: int, n_rows: int, times, series: str | None) -> dict[str, np.ndarray]:
    """Which of n_rows rows (stream rows first_row ..) operators marked: {incident, false_alarm} (T,) bool."""
    from jepawatch.feedback import windows_marked  # a foundation module (feedback.py)

    rows = np.arange(first_row, first_row + n_rows)
    return {("incident" if kind == "incident" else "false_alarm"):
            windows_marked(verdicts, kind, rows, rows, times, times, series) for kind in ("incident", "false_alarm")}


def _runs(flags: np.ndarray) -> list[list[int]]:
    runs, current = [], []
    for i, flag in enumerate(flags):
        if flag:
            current.append(i)
        elif current:
            runs.append(current)
            current = []
    if current:
        runs.append(current)
    return runs


def _spans(kept: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) of each run of True."""
    edges = np.diff(np.r_[0, kept.astype(np.int8), 0])
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)))


def _widen(mask: np.ndarray, reach: int) -> np.ndarray:
    """`mask` with `reach` rows added on either side of every True row."""
    if not mask.any() or reach <= 0:
        return mask.copy()
    out = np.zeros_like(mask)
    for a, b in _spans(mask):
        out[max(0, a - reach): b + reach] = True
    return out


def _any_in(mask: np.ndarray, starts: np.ndarray, window: int) -> np.ndarray:
    """(N,) whether window i (rows starts[i] .. + window) holds any True row of `mask`."""
    counts = np.r_[0, np.cumsum(mask.astype(np.int64))]
    return counts[starts + window] - counts[starts] > 0


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def write(bundle, result: RefitResult) -> None:
    """Record the refit in the bundle (refits.json, the newest MAX_REFITS) and, when applied, replace its
    risk.json, keeping training's as risk.trained.json the first time: one atomic bundle update."""
    refits = [*bundle.refits, result.record][-MAX_REFITS:]
    files: dict = {REFITS: refits}
    if result.risk is not None:
        files[RISK] = result.risk
        if bundle.trained_risk is None:
            files[TRAINED_RISK] = bundle.risk
    update_bundle(bundle.path, files, {})
    bundle.refits = refits
    if result.risk is not None and bundle.trained_risk is None:
        bundle.trained_risk = bundle.risk


def reset(scorer, now: datetime | None = None) -> RefitResult:
    """Back to the calibration training fitted (the refits stay in the history)."""
    bundle = scorer.bundle
    if bundle.trained_risk is None:
        raise ConfigError(f"{bundle.name} has never been refitted: its calibration is the one training fitted")
    trained = risk_from_dict(bundle.trained_risk)
    record = {"at": _rfc3339(now or datetime.now(timezone.utc)), "source": "reset to the training calibration",
              "rows": {"first": 0, "last": 0, "reference": 0}, "times": None,
              "windows": {"reference": int(bundle.trained_risk.get("reference_windows", 0)),
                          "calibration": int(bundle.trained_risk.get("windows", 0)), "left_out_rows": {}},
              "check": {"windows": 0, "alerting_before": 0, "alerting_after": 0, "most": CHECK_SHARE},
              "moved": movement(scorer.calibration, trained, scorer.channels) if isinstance(scorer.calibration, FusedRisk)
              else {"largest_level_shift": 0.0, "channels": []},
              "applied": True, "forced": False, "reason": None}
    return RefitResult(bundle.trained_risk, record)
