"""The report's list of alerts: runs of consecutive alerted windows, each with what followed it.

A run's outcome, when the data has labels:
- warned: a labelled anomaly began within the windows the run's alerts are about (each alert is
  about the next window) after alerts raised on normal windows; its lead time runs from the end of
  the first of those alerted windows to the onset, in rows (the demo summary's and the
  evaluation's rule);
- during anomaly: the windows the alerts are about hold labelled rows, but no onset came after an
  alert on a normal window (an anomaly under way);
- early alert: they are all normal, but every alert of the run was raised within the lead horizon
  before an anomaly began (`evaluation.events.early_alerts`), which it announced without reaching it (not a false alarm in
  `evaluation.events`);
- false alarm: the alerted windows and the windows they are about are all normal, as
  `evaluation.events` counts false alarms (alerts on windows that hold labelled rows are alerts
  while an anomaly is under way).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from jepawatch.evaluation.events import early_alerts, segments


@dataclass
class AlertRun:
    first: int  # index of the run's first row among the scored rows
    last: int  # index of its last row
    peak: int  # index of its highest-risk row
    outcome: str  # warned | during anomaly | false alarm | "" (no labels)
    onset: int | None = None  # row where the anomaly warned of began
    warned_from: int | None = None  # index of the row whose alert started the warning
    lead_rows: int | None = None  # onset - (end of that window + 1)


def alert_runs(rows: list[dict], labels: np.ndarray | None, window: int) -> list[AlertRun]:
    runs: list[AlertRun] = []
    i = 0
    while i < len(rows):
        if not rows[i]["alert"]:
            i += 1
            continue
        j = i
        while j + 1 < len(rows) and rows[j + 1]["alert"] and rows[j + 1]["window_start"] <= rows[j]["window_end"] + 1:
            j += 1
        peak = max(range(i, j + 1), key=lambda k: rows[k]["next_window_risk"])
        runs.append(_outcome(rows, i, j, peak, labels, window))
        i = j + 1
    return runs


def _outcome(rows: list[dict], first: int, last: int, peak: int, labels: np.ndarray | None, window: int) -> AlertRun:
    if labels is None:
        return AlertRun(first, last, peak, "")
    begin, about_end = rows[first]["window_start"], min(len(labels), rows[last]["window_end"] + 1 + window)
    for onset, _ in segments(labels):
        if not rows[first]["window_end"] < onset < about_end:
            continue
        before = np.flatnonzero(labels[:onset])
        calm_after = before[-1] if len(before) else -1  # the last labelled row before the onset
        for k in range(first, last + 1):
            if rows[k]["window_start"] > calm_after and rows[k]["window_end"] < onset:
                return AlertRun(first, last, peak, "warned", int(onset), k, int(onset - rows[k]["window_end"] - 1))
    # the alerted windows and the windows they are about: any labelled row there is an anomaly under way
    if labels[begin: about_end].any():
        return AlertRun(first, last, peak, "during anomaly")
    ends = np.asarray([rows[k]["window_end"] for k in range(first, last + 1) if rows[k]["alert"]])
    early = early_alerts(labels, window, ends)
    return AlertRun(first, last, peak, "early alert" if len(ends) and early.all() else "false alarm")
