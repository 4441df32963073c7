"""Event-level early warning: did an alert come before each anomaly, how early, and at what cost.

Windows are the non-overlapping windows W_j = rows [j*T, (j+1)*T) of a labelled series; the
alert raised at the end of W_t is about W_{t+1}. Per anomalous segment (a run of labelled rows)
whose onset lies in a scored target window:
- warned: the alert run that reaches the onset's window started on a window that was normal, so
  the operator heard before it began (the protocol's rule, `metrics.lead_times`); its lead time
  runs from the end of that run's first window to the onset;
- alerted while under way: some alerted window overlaps the segment;
- detected: warned or alerted while under way.
Normal windows: a normal window followed by a normal one. False alarms: alerts raised on normal
windows, also per 1,000 normal windows and, when the data's time step is known, per day of data
(an alert on a window that holds labelled rows is an alert while an anomaly is under way, whatever
follows it, not a false alarm), except early alerts: an alert about one of the LEAD_HORIZON
windows before an incident's window announces that incident, as a detection in the part of a NAB
anomaly window before the onset does, and is not charged as a false alarm (an alert from a
precursor is what an operator wants); `warned` still asks the alert run to reach the incident.
`false_alarms_strict` counts every alert on a normal window (the figure before this rule).

`events_at_budgets` judges any score at several false-alarm budgets: the threshold of each is set
on the scored normal windows (the share `budget` of them alerts), which only
an evaluation can do, never a product: it compares detectors at the same false-alarm rate.
`nab_score` sums the Numenta Anomaly Benchmark's standard profile over the incidents (below).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


LEAD_HORIZON = 4  # windows before an incident's window about which an alert announces it (not a false alarm)

@dataclass
class EventSummary:
    anomalies: int  # segments whose onset lies in a scored target window
    warned: int
    mean_lead_steps: float
    alerted_during: int
    alerts: int
    false_alarms: int
    normal_targets: int  # normal windows (normal, and followed by a normal one), alerted or not, the
    # windows of early alerts included (the rate is per normal window of the data, as per day is per day)
    detected: int = 0  # warned or alerted while under way
    days: float = float("nan")  # the scored stretch in days, when the time step is known
    nab: float = float("nan")  # `nab_score` of the alerts
    false_alarms_strict: int = 0  # every alert on a normal window, early alerts included

    @property
    def false_alarms_per_1000(self) -> float:
        return 1000.0 * self.false_alarms / self.normal_targets if self.normal_targets else float("nan")

    @property
    def false_alarms_per_day(self) -> float:
        return self.false_alarms / self.days if self.days > 0 else float("nan")

    def to_dict(self) -> dict:
        return {**asdict(self), "false_alarms_per_1000": self.false_alarms_per_1000,
                "false_alarms_per_day": self.false_alarms_per_day}


def event_summary(step_labels: np.ndarray, window: int, first_window: int, alerts: np.ndarray,
                  step_seconds: float | None = None, lead_horizon: int = LEAD_HORIZON) -> EventSummary:
    """step_labels (T,) 0/1; alerts[i]: the alert raised at the end of window `first_window + i`
    (windows at stride `window`); step_seconds: the data's time step, for false alarms per day;
    lead_horizon: windows before an incident's window about which an alert is an early alert of it,
    not a false alarm. `scored_events` with those windows' last rows."""
    alerts = np.asarray(alerts, dtype=bool)
    ends = (first_window + np.arange(len(alerts)) + 1) * window - 1
    return scored_events(step_labels, window, ends, alerts, step_seconds, lead_horizon)


def scored_events(step_labels: np.ndarray, window: int, ends: np.ndarray, alerts: np.ndarray,
                  step_seconds: float | None = None, lead_horizon: int = LEAD_HORIZON) -> EventSummary:
    """`event_summary` for windows scored at any stride: ends[i] is the last row of the i-th scored
    window (increasing), alerts[i] the alert raised there, about the next `window` rows. For windows
    at stride `window` these are the window rules of the module doc (tested against
    `metrics.lead_times`, the protocol's rule); at a finer stride (every patch) the last window
    before an onset ends closer to it, as a live monitor that scores every patch sees.

    Per incident (a run of labelled rows) whose onset o has a scored window ending in [o - window, o):
    warned when the last window ending before o alerts, its lead running from the end of the first
    window of the alert run that reaches it (followed back while each earlier window alerts and the
    rows it is about, up to the onset, hold no label, as `metrics.lead_times` does); alerted while under
    way when an alerted window overlaps it. A normal window: its rows and the `window` rows after it
    hold no label. An early alert, not a false alarm: an alert raised at most lead_horizon + 1
    windows' rows before an onset."""
    ends, alerts = np.asarray(ends, dtype=np.int64), np.asarray(alerts, dtype=bool)
    labels = np.asarray(step_labels).astype(bool)
    usable = ends + window < len(labels)
    labelled = _labelled_rows(labels)
    quiet = normal_windows(labels, window, ends)
    early = early_alerts(labels, window, ends, lead_horizon)
    incidents, warned, leads, alerted_during, detected = 0, 0, [], 0, 0
    for first, last in segments(labels):
        before = np.flatnonzero(ends < first)  # its rows end before the onset: its alert is about the onset's rows
        if not len(before) or ends[before[-1]] < first - window:
            continue  # no scored window ends within a window before the onset
        incidents += 1
        k = before[-1]
        during = bool(alerts[(ends - window + 1 <= last) & (ends >= first)].any())
        alerted_during += during
        if alerts[k]:
            warned += 1
            while k > 0 and alerts[k - 1] and not labelled(ends[k - 1:k] + 1,
                                                           np.minimum(ends[k - 1:k] + window, first - 1))[0]:
                k -= 1
            leads.append(int(first - (ends[k] + 1)))
        detected += during or bool(alerts[before[-1]])
    scored = ends[usable]  # the rows the usable windows cover, once each however they overlap
    rows = window + int(np.minimum(np.diff(scored), window).sum()) if len(scored) else 0
    days = rows * step_seconds / 86400.0 if step_seconds else float("nan")
    return EventSummary(anomalies=incidents, warned=warned, mean_lead_steps=float(np.mean(leads)) if leads else float("nan"),
                        alerted_during=alerted_during, alerts=int(alerts.sum()),
                        false_alarms=int((alerts & quiet & ~early).sum()), normal_targets=int(quiet.sum()),
                        detected=detected, days=days, nab=nab_of_rows(step_labels, window, ends[alerts]),
                        false_alarms_strict=int((alerts & quiet).sum()))


def _labelled_rows(labels: np.ndarray):
    """labelled(first, last) -> whether rows [first, last] (arrays, clipped to the data) hold a label."""
    n_rows = len(labels)
    covered = np.r_[0, np.cumsum(np.asarray(labels).astype(bool))]  # labelled rows before each row

    def labelled(first: np.ndarray, last: np.ndarray) -> np.ndarray:
        first, last = np.clip(first, 0, n_rows), np.clip(last + 1, 0, n_rows)
        return covered[np.maximum(last, first)] - covered[first] > 0
    return labelled


def normal_windows(step_labels: np.ndarray, window: int, ends: np.ndarray) -> np.ndarray:
    """(N,) bool over the windows ending at rows `ends`: normal windows, whose rows and the `window`
    rows after them (all within the data) hold no label."""
    ends = np.asarray(ends, dtype=np.int64)
    return (ends + window < len(step_labels)) & ~_labelled_rows(step_labels)(ends - window + 1, ends + window)


def early_alerts(step_labels: np.ndarray, window: int, ends: np.ndarray, lead_horizon: int = LEAD_HORIZON) -> np.ndarray:
    """(N,) bool over the windows ending at rows `ends`: where an alert announces an incident rather than
    being a false alarm, raised at most lead_horizon + 1 windows' rows before its onset (the alert
    about one of the lead_horizon windows before the incident's window, at the window stride)."""
    ends = np.asarray(ends, dtype=np.int64)
    early = np.zeros(len(ends), dtype=bool)
    for first, _ in segments(step_labels):
        early |= (first - ends > 0) & (first - ends <= (lead_horizon + 1) * window)
    return early


def false_alarm_windows(step_labels: np.ndarray, window: int, first_window: int, n: int) -> np.ndarray:
    """(n,) bool over windows first_window .. first_window + n - 1 (at the window stride): where an
    alert could only be a false alarm (a normal window followed by a normal one, no early alert)."""
    ends = (first_window + np.arange(n) + 1) * window - 1
    return normal_windows(step_labels, window, ends) & ~early_alerts(step_labels, window, ends)


BUDGETS = (0.001, 0.005, 0.01, 0.02, 0.05)  # false alarms per normal window


def events_at_budgets(step_labels: np.ndarray, window: int, first_window: int, scores: np.ndarray,
                      budgets=BUDGETS, step_seconds: float | None = None) -> list[dict]:
    """The events of `scores` (one per window from `first_window`, larger = more unusual; NaN never
    alerts) thresholded at each false-alarm budget, the threshold set on the normal windows (normal
    and followed by a normal one) outside every incident's lead horizon, where an alert could only be
    a false alarm. Each: budget, threshold and `event_summary`'s figures."""
    scores = np.nan_to_num(np.asarray(scores, dtype=float), nan=-np.inf)
    normal = scores[false_alarm_windows(step_labels, window, first_window, len(scores))]
    normal = normal[np.isfinite(normal)]
    out = []
    for budget in budgets:
        threshold = float(np.quantile(normal, 1.0 - budget, method="higher")) if len(normal) else float("inf")
        summary = event_summary(step_labels, window, first_window, scores > threshold, step_seconds)
        out.append({"budget": budget, "threshold": threshold, **summary.to_dict()})
    return out


# The Numenta Anomaly Benchmark's standard profile (Lavin & Ahmad 2015): a true positive earns up to
# A_TP, each false positive costs A_FP, each missed incident A_FN; reported as 100 x (raw - null) /
# (perfect - null), null = no detection at all, perfect = every incident at the start of its window.
NAB_A_TP, NAB_A_FP, NAB_A_FN = 1.0, 0.11, 1.0


def _nab_sigmoid(position: float) -> float:
    """NAB's scaled sigmoid: 2 / (1 + e^(5y)) - 1; y = -1 at the start of an incident's window, 0 at its end."""
    return 2.0 / (1.0 + np.exp(5.0 * position)) - 1.0


def nab_score(step_labels: np.ndarray, window: int, first_window: int, alerts: np.ndarray) -> float:
    """A NAB-style score of alerts raised at the end of windows `first_window + i` (standard profile).

    Adapted to labelled segments and early warning: each incident's NAB window runs from `lead` rows
    before its onset to its last row, `lead` being half of NAB's window width (10% of the rows over
    the number of incidents), so that a warning before the onset counts as in NAB's centred windows;
    the first alert in a window earns A_TP times the sigmoid of its position (earlier is better);
    every alert outside all windows costs A_FP (NAB's far-from-any-window limit); a window without an
    alert costs A_FN. NaN when there is no incident."""
    alerts = np.asarray(alerts, dtype=bool)
    return nab_of_rows(step_labels, window, (first_window + np.flatnonzero(alerts) + 1) * window - 1)


def nab_of_rows(step_labels: np.ndarray, window: int, alert_rows: np.ndarray) -> float:
    """`nab_score` of alerts given by the last row of each alerting window (any stride)."""
    alert_rows = np.asarray(alert_rows, dtype=np.int64)
    incidents = segments(step_labels)
    if not incidents:
        return float("nan")
    lead = max(window, int(0.1 * len(step_labels) / len(incidents) / 2))
    spans = [(max(0, first - lead), last) for first, last in incidents]
    raw, inside = 0.0, np.zeros(len(alert_rows), dtype=bool)
    for start, end in spans:
        hits = (alert_rows >= start) & (alert_rows <= end)
        inside |= hits
        if hits.any():
            position = (alert_rows[hits][0] - end) / max(end - start, 1)  # -1 at the start, 0 at the end
            raw += NAB_A_TP * _nab_sigmoid(position)
        else:
            raw -= NAB_A_FN
    raw -= NAB_A_FP * int((~inside).sum())
    null, perfect = -NAB_A_FN * len(spans), NAB_A_TP * _nab_sigmoid(-1.0) * len(spans)
    return float(100.0 * (raw - null) / (perfect - null))


def segments(labels: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) row of each run of 1s."""
    edges = np.diff(np.concatenate([[0], np.asarray(labels).astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1))
