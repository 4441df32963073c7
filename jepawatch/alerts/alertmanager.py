"""The body of Alertmanager's webhook (webhook_config, version 4), so that receivers written for
Alertmanager (and Alertmanager-compatible ones) accept jepawatch's events unchanged.

One POST per event: `status` is the event's, `alerts` holds that one alert with its labels
(alertname, series, model, severity) and annotations (summary, peak risk, regime codes, drivers).
The "data moved" notice is its own alert, `JepawatchDataMoved` (severity info), firing while it holds.
"""

from __future__ import annotations

from jepawatch.alerts.tracker import FIRING, MOVED, AlertEvent

ALERT_NAME = "JepawatchNextWindowRisk"
MOVED_NAME = "JepawatchDataMoved"  # the "data moved" notice (scoring.data_moved), one instead of an alert a window
RECEIVER = "jepawatch"
ZERO_TIME = "0001-01-01T00:00:00Z"  # Alertmanager's endsAt of an alert still firing


def webhook_body(event: AlertEvent, external_url: str = "") -> dict:
    moved = event.kind == MOVED
    name = MOVED_NAME if moved else ALERT_NAME
    labels = {"alertname": name, "series": event.series, "model": event.model, "severity": "info" if moved else "warning"}
    if moved:
        summary = (f"{event.series}: {event.notice} (model {event.model})" if event.status == FIRING
                   else f"{event.series}: the data is back within its reference (model {event.model})")
    else:
        summary = (f"{event.series}: next-window risk {event.peak_risk:.3f} (model {event.model})"
                   if event.status == FIRING else f"{event.series}: risk back to normal (model {event.model})")
    annotations = {
        "summary": summary,
        "peak_risk": f"{event.peak_risk:.6f}",
        "peak_window_start": str(event.peak_window_start),
        "regime": event.regime,
        "coarse_regime": str(event.coarse_regime),
        "drivers": event.drivers,
        "window": f"{event.window_start}-{event.window_end}",
    }
    alert = {"status": event.status, "labels": labels, "annotations": annotations, "startsAt": event.starts_at,
             "endsAt": event.ends_at or ZERO_TIME, "generatorURL": external_url, "fingerprint": event.fingerprint}
    group = {"alertname": name, "series": event.series}
    return {
        "version": "4",
        "groupKey": f'{{}}:{{alertname="{name}", series="{event.series}"}}',
        "truncatedAlerts": 0,
        "status": event.status,
        "receiver": RECEIVER,
        "groupLabels": group,
        "commonLabels": labels,
        "commonAnnotations": annotations,
        "externalURL": external_url,
        "alerts": [alert],
    }
