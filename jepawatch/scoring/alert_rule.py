"""Which risk a bundle's windows are judged by, and the level at which a window alerts: decided here
only. `score`, `watch`, the report, the Python API (`Monitor.risk_source`, `Monitor.alert_at`) and
Spark all call `alert_rule`.

The risk is the supervised head's when `calibrate` stored one (its threshold, chosen on labelled
validation windows, is the alert level), else the label-free risk (alert level: `DEFAULT_ALERT_AT`
unless the bundle's calibration records another). `--alert-at` overrides the level: a finite number
from 0 (every window alerts, e.g. to try a webhook) up; above 1 no window alerts."""

from __future__ import annotations

import math
from dataclasses import dataclass

from jepawatch.bundle import Bundle
from jepawatch.errors import ConfigError
from jepawatch.scoring.label_free import DEFAULT_ALERT_AT

SUPERVISED, LABEL_FREE = "supervised", "label-free"


@dataclass(frozen=True)
class AlertRule:
    risk_source: str  # SUPERVISED or LABEL_FREE: which risk `next_window_risk` is
    alert_at: float  # a window alerts when its next_window_risk >= this


def check_alert_at(alert_at: float | None) -> None:
    """A ConfigError unless `alert_at` is None or a risk level from 0 to 1 (1: the label-free risk, which
    stays below 1 however far out a window is, never alerts)."""
    if alert_at is not None and not (math.isfinite(alert_at) and 0.0 <= alert_at <= 1.0):
        raise ConfigError(f"--alert-at {alert_at:g}: give a risk level from 0 to 1, e.g. 0.99 (risks run from 0 to 1; "
                          "1 never alerts on the label-free risk)")


def alert_rule(bundle: Bundle, alert_at: float | None = None) -> AlertRule:
    """The risk source of `bundle` and its alert level (`alert_at` when given, else the bundle's; NaN
    for a bundle with neither a head nor a label-free calibration, which cannot be scored)."""
    check_alert_at(alert_at)
    if bundle.head:
        source, default = SUPERVISED, float(bundle.head["threshold"])
    elif bundle.risk:
        source, default = LABEL_FREE, float(bundle.risk.get("alert_at", DEFAULT_ALERT_AT))
    else:
        source, default = LABEL_FREE, math.nan
    return AlertRule(source, default if alert_at is None else float(alert_at))
