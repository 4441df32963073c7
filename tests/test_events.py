"""Event figures where an operator acts: incidents detected and warned, false alarms per normal window,
at the same false-alarm budget for every detector, and a NAB-style score."""

from __future__ import annotations

import numpy as np
import pytest

from jepawatch.evaluation.events import event_summary, events_at_budgets, nab_score, segments
from jepawatch.evaluation.labelled import step_seconds

WINDOW = 10


def incidents(n_rows: int = 4000, every: int = 400) -> np.ndarray:
    labels = np.zeros(n_rows, dtype=np.uint8)
    for onset in range(205, n_rows - 50, every):
        labels[onset:onset + 20] = 1
    return labels


def test_a_precursor_detector_warns_of_every_incident_within_the_budget_and_noise_does_not():
    labels = incidents()
    n = len(labels) // WINDOW
    rng = np.random.default_rng(0)
    noise = rng.random(n - 1)  # scores of windows 1 .. n-1, each about the next window
    precursor = noise.copy()
    onsets = np.flatnonzero(np.diff(np.concatenate([[0], labels])) == 1)
    precursor[onsets // WINDOW - 2] = 10.0  # the window before each incident's window: index = window - 1
    for budget_rows in (events_at_budgets(labels, WINDOW, 1, precursor, step_seconds=60.0),
                        events_at_budgets(labels, WINDOW, 1, noise, step_seconds=60.0)):
        for row in budget_rows:
            assert row["false_alarms_per_1000"] <= 1000 * row["budget"] + 1e-9  # the budget is kept
            assert row["false_alarms_per_day"] == pytest.approx(row["false_alarms"] / row["days"])
    at_one_percent = {r["budget"]: r for r in events_at_budgets(labels, WINDOW, 1, precursor)}[0.01]
    assert at_one_percent["anomalies"] == len(onsets) == at_one_percent["warned"] == at_one_percent["detected"]
    noisy = {r["budget"]: r for r in events_at_budgets(labels, WINDOW, 1, noise)}[0.01]
    assert noisy["detected"] < len(onsets) // 2


def test_an_alert_while_an_incident_is_under_way_is_not_a_false_alarm():
    labels = np.zeros(100, dtype=np.uint8)
    labels[82:90] = 1  # in window 80..89; window 90 is normal
    alerts = np.zeros(9, dtype=bool)  # windows 1 .. 9
    alerts[7] = True  # raised at the end of window 8 (rows 80..89), about window 9 (normal)
    summary = event_summary(labels, WINDOW, 1, alerts)
    assert (summary.detected, summary.alerted_during, summary.false_alarms) == (1, 1, 0)
    alerts[2] = True  # window 3 and window 4 are normal: a false alarm, window 4 being 4 windows before the incident's
    assert event_summary(labels, WINDOW, 1, alerts, lead_horizon=3).false_alarms == 1
    assert event_summary(labels, WINDOW, 1, alerts, lead_horizon=4).false_alarms == 0  # an early alert


def test_nab_score_rewards_early_detection_and_charges_false_alarms():
    labels = incidents()
    n = len(labels) // WINDOW
    onsets = np.flatnonzero(np.diff(np.concatenate([[0], labels])) == 1)
    silent = np.zeros(n - 1, dtype=bool)
    early, late = silent.copy(), silent.copy()
    early[onsets // WINDOW - 3] = True  # two windows ahead
    late[onsets // WINDOW] = True  # the incident's own window, after its onset
    assert nab_score(labels, WINDOW, 1, silent) == 0.0
    assert 0 < nab_score(labels, WINDOW, 1, late) < nab_score(labels, WINDOW, 1, early) <= 100.0
    noisy = early.copy()
    noisy[np.arange(0, n - 1, 7)] = True
    assert nab_score(labels, WINDOW, 1, noisy) < nab_score(labels, WINDOW, 1, early)
    assert np.isnan(nab_score(np.zeros(100, dtype=np.uint8), WINDOW, 1, silent[:9]))


def test_the_time_step_of_a_time_column():
    stamps = np.arange("2026-01-01T00:00", "2026-01-01T05:00", np.timedelta64(1, "m"), dtype="datetime64[m]")
    assert step_seconds(stamps) == 60.0
    assert step_seconds(np.arange(10.0)) is None and step_seconds(None) is None


def test_the_precursor_family_announces_level_incidents_by_dynamics_within_the_normal_range():
    from jepawatch.evaluation.precursor_family import KINDS, make_precursor_data

    data = make_precursor_data(train_rows=3000, n_incidents=10, seed=7)
    again = make_precursor_data(train_rows=3000, n_incidents=10, seed=7)
    assert data.live.equals(again.live) and data.train.equals(again.train)
    assert [i.kind for i in data.incidents] == list(KINDS) * 2
    label = data.live["label"].to_numpy()
    from jepawatch.evaluation.events import segments

    assert [(int(a), int(b)) for a, b in segments(label)] == [(i.onset, i.onset + i.length - 1) for i in data.incidents]
    for earlier, later in zip(data.incidents, data.incidents[1:]):
        assert earlier.onset + earlier.length <= later.precursor_start  # no precursor over an earlier incident
        assert 120 <= later.onset - later.precursor_start <= 150
    train = data.train.drop(columns="timestamp").to_numpy()
    live = data.live.drop(columns=["timestamp", "label"]).to_numpy()
    before = np.zeros(len(live), dtype=bool)
    for incident in data.incidents:
        before[incident.precursor_start:incident.onset] = True
    outside = (live[before] < train.min(axis=0)) | (live[before] > train.max(axis=0))
    assert outside.mean() < 0.02  # the precursors change dynamics, not levels
    assert "label" not in data.train.columns and list(data.live.columns)[0] == "timestamp"


def test_an_early_alert_within_the_lead_horizon_announces_the_incident_and_is_not_a_false_alarm():
    labels = np.zeros(200, dtype=np.uint8)
    labels[150:160] = 1  # window 15
    alerts = np.zeros(19, dtype=bool)  # raised at the end of windows 1 .. 19; alerts[i] is about window i + 2
    alerts[7:14] = True  # windows 8 .. 14: a run reaching the alert about window 15
    summary = event_summary(labels, WINDOW, 1, alerts, lead_horizon=4)
    assert summary.warned == 1 and summary.false_alarms_strict == 6  # windows 8 .. 13 are normal before normal
    assert summary.false_alarms == 2  # alerts about windows 10 and 11, more than 4 windows before window 15
    assert event_summary(labels, WINDOW, 1, alerts, lead_horizon=10).false_alarms == 0
    alerts[13] = False  # the run stops before the onset's window: not warned, but its alerts still announced it
    stopped = event_summary(labels, WINDOW, 1, alerts, lead_horizon=4)
    assert stopped.warned == 0 and stopped.false_alarms == 2 and stopped.false_alarms_strict == 6
    alerts[:] = False
    alerts[2] = True  # about window 4, far from any incident: a false alarm whatever the horizon
    assert event_summary(labels, WINDOW, 1, alerts, lead_horizon=4).false_alarms == 1


def test_events_of_windows_at_any_stride_follow_the_window_rules_at_the_window_stride():
    """`scored_events` (any stride, by window end) at stride = window, on random labels and alerts:
    warned and lead time as the protocol's `metrics.lead_times`, normal windows and false alarms as
    the window rules (a normal window before a normal one; early alerts are the alerts about the
    lead horizon's windows before an incident's window, `_before_onsets`, written here by window
    index as an independent check of the module's rule by rows); at a stride of 2 rows the last
    window before an onset ends nearer it."""
    from jepawatch.evaluation.events import LEAD_HORIZON, scored_events
    from jepawatch.evaluation.metrics import lead_times

    def labels_of_windows(step_labels, window):  # which whole windows hold a labelled row
        n_windows = len(step_labels) // window
        return step_labels[: n_windows * window].reshape(n_windows, window).max(axis=1).astype(bool)

    def _before_onsets(step_labels, window):  # (windows + 1,): target windows within the horizon before an onset
        mask = np.zeros(len(step_labels) // window + 1, dtype=bool)
        for first, _ in segments(step_labels):
            mask[max(0, first // window - LEAD_HORIZON): first // window] = True
        return mask

    rng = np.random.default_rng(7)
    for trial in range(200):
        labels = np.zeros(600, dtype=np.uint8)
        for onset in rng.choice(np.arange(30, 580), size=rng.integers(1, 6), replace=False):
            labels[onset: onset + rng.integers(1, 40)] = 1
        first_window = int(rng.integers(1, 3))
        alerts = rng.random(600 // WINDOW - 1 - first_window) < rng.uniform(0.05, 0.6)  # each with its target
        ends = (first_window + np.arange(len(alerts)) + 1) * WINDOW - 1
        summary = scored_events(labels, WINDOW, ends, alerts, 60.0)
        windows = labels_of_windows(labels, WINDOW)
        own, target = windows[first_window: first_window + len(alerts)], windows[first_window + 1: first_window + 1 + len(alerts)]
        leads = lead_times(labels, WINDOW, first_window + 1, alerts, target)
        early = _before_onsets(labels, WINDOW)[first_window + 1: first_window + 1 + len(alerts)]
        assert (summary.anomalies, summary.warned) == (leads["segments"], leads["warned"]), trial
        assert summary.mean_lead_steps == leads["mean_lead_steps"] or np.isnan(leads["mean_lead_steps"]), trial
        assert summary.normal_targets == int((~own & ~target).sum()), trial
        assert summary.false_alarms_strict == int((alerts & ~own & ~target).sum()), trial
        assert summary.false_alarms == int((alerts & ~own & ~target & ~early).sum()), trial
    labels = np.zeros(200, dtype=np.uint8)
    labels[125:140] = 1
    ends = np.arange(2 * WINDOW - 1, 200, 2)  # a window every 2 rows; the last before the onset ends at row 123
    alerts = (ends >= 115) & (ends < 125)  # alerts raised at rows 115 .. 123 only
    stride_2 = scored_events(labels, WINDOW, ends, alerts)
    assert (stride_2.warned, stride_2.false_alarms, stride_2.mean_lead_steps) == (1, 0, 9.0)  # from row 115 to 125


def test_events_at_a_fine_stride_count_each_row_once_and_warn_up_to_the_end_of_the_data():
    from jepawatch.evaluation.events import scored_events

    labels = np.zeros(1000, dtype=np.uint8)
    every_row = scored_events(labels, WINDOW, np.arange(WINDOW - 1, 1000), np.zeros(1000 - WINDOW + 1, bool), 60.0)
    every_window = scored_events(labels, WINDOW, np.arange(WINDOW - 1, 1000, WINDOW), np.zeros(100, bool), 60.0)
    assert every_row.days == pytest.approx(every_window.days, rel=0.02)  # the same data, however often scored
    labels = np.zeros(100, dtype=np.uint8)
    labels[93:] = 1
    ends = np.arange(WINDOW - 1, 100)
    late = scored_events(labels, WINDOW, ends, (ends >= 90) & (ends < 93))  # their next rows run past the data
    assert (late.anomalies, late.warned) == (1, 1)
