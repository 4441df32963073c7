"""Event-level early warning: did an alert come before each anomaly, how early, and at what cost.

Windows are the non-overlapping windows W_j = rows [j*T, (j+1)*T) of a labelled series; the
alert raised at the end of W_t is about W_{t+1}. Per anomalous segment (a run of labelled rows)
whose onset lies in a scored target window:
- warned: the alert run that reaches the onset's window started on a window that was normal, so
  the operator heard before it began (the protocol's rule, `metrics.lead_times`); its lead time
  runs from the end of that run's first window to the onset;
- alerted while under way: some alerted window overlaps the segment.
False alarms: alerts whose next window is normal, also per 1,000 such windows.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from jepawatch.evaluation.metrics import lead_times


@dataclass
class EventSummary:
    anomalies: int  # segments whose onset lies in a scored target window
    warned: int
    mean_lead_steps: float
    alerted_during: int
    alerts: int
    false_alarms: int
    normal_targets: int  # alerts' target windows that were normal, alerted or not

    @property
    def false_alarms_per_1000(self) -> float:
        return 1000.0 * self.false_alarms / self.normal_targets if self.normal_targets else float("nan")

    def to_dict(self) -> dict:
        return {**asdict(self), "false_alarms_per_1000": self.false_alarms_per_1000}


def event_summary(step_labels: np.ndarray, window: int, first_window: int, alerts: np.ndarray) -> EventSummary:
    """step_labels (T,) 0/1; alerts[i]: the alert raised at the end of window `first_window + i`."""
    alerts = np.asarray(alerts, dtype=bool)
    n_windows = len(step_labels) // window
    window_labels = step_labels[: n_windows * window].reshape(n_windows, window).max(axis=1).astype(bool)
    first_target = first_window + 1
    usable = (first_target + np.arange(len(alerts))) < n_windows
    alerts_usable = alerts[usable]
    targets = window_labels[first_target: first_target + len(alerts_usable)]
    leads = lead_times(step_labels, window, first_target, alerts_usable, targets)
    starts = (first_window + np.arange(len(alerts))) * window
    alerted_during = 0
    for first, last in segments(step_labels):
        if not first_target * window <= first < (first_target + len(alerts_usable)) * window:
            continue
        overlapping = (starts <= last) & (starts + window - 1 >= first)
        alerted_during += bool(alerts[overlapping].any())
    return EventSummary(anomalies=leads["segments"], warned=leads["warned"], mean_lead_steps=leads["mean_lead_steps"],
                        alerted_during=alerted_during, alerts=int(alerts.sum()),
                        false_alarms=int((alerts_usable & ~targets).sum()), normal_targets=int((~targets).sum()))


def segments(labels: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) row of each run of 1s."""
    edges = np.diff(np.concatenate([[0], np.asarray(labels).astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1))
