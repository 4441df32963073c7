"""How a risk is written for people: what it is called, and digits that agree with the alert mark.

The label-free risk is a percentile: the share of held-out normal windows (the validation windows,
and the training windows each scored against reference windows far from it) whose score is below
this window's (0.99 = rarer than 99% of them), not a probability of an anomaly. The supervised
risk is the calibrated head's probability. Wherever a risk is shown it carries one of these names.

How far out a window is: `one_in`, 1 / (1 - label-free risk), "as unusual as 1 in N normal
windows", which keeps growing where the percentile reads 0.9999... (`one_in_text` writes it short).
A stored risk keeps six decimals, and near 1 all its digits, so that rows far out keep their order
(`stored_risk`).

The alert is decided on the unrounded risk (`risk >= alert_at`), so rounding for display could
make an alerting row read below the alert level or a quiet one read at it (0.98996 -> "0.99").
`shown_risk` truncates instead, to as many digits as the alert level needs, and so a row with the
alert mark never reads below the level and one without never reads at or above it.
"""

from __future__ import annotations

import math
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

MAX_DIGITS = 6  # a scored row's risk carries 6 decimals

NAMES = {"label-free": "percentile of normal", "supervised": "probability"}
LONG_NAMES = {
    "label-free": "the share of held-out normal windows this window is more unusual than (a percentile, "
                  "not a probability)",
    "supervised": "the calibrated head's probability that the next window is anomalous",
}


def stored_risk(risk: float) -> float:
    """The risk as a row stores it: 6 decimals, and from 0.999 on every digit it has (0.9999999884372,
    not 1.0), so that no two rows tie at the top unless their scores do (three significant digits of
    1 - risk still tied 44 of the 50 riskiest windows of SKAB's valve1 experiments)."""
    risk = float(risk)
    return round(risk, 6) if risk < 0.999 else risk


def cut_to_digits(value: float, digits: int) -> float:
    """`value` (> 0) cut (not rounded) to `digits` significant digits: a window 1 in 99.996 is stored
    as 99.9, never as the 100 that an alert at 0.99 means."""
    value = float(value)
    if not math.isfinite(value) or value <= 0:
        return value
    leading, exponent = _leading_digits(value, digits)
    return float(f"{leading}e{exponent - digits + 1}")


def _leading_digits(value: float, digits: int) -> tuple[int, int]:
    """`value`'s first `digits` digits as an integer (cut) and the power of ten of its first digit,
    read from its decimal expansion (log10 and division round 9.999999999999998e9 up to 1e10)."""
    mantissa, exponent = f"{value:.16e}".split("e")
    whole, fraction = mantissa.split(".")
    return int((whole + fraction)[:digits]), int(exponent)


def one_in_text(one_in: float) -> str:
    """N of '1 in N' in at most 4 characters, cut (not rounded) to two significant digits (one from a
    billion on), so that it never reads at an alert level's N (100 for 0.99) when the window is below
    it: 99, 1.2k, 35k, 4.1M, 2e9."""
    if not math.isfinite(one_in) or one_in >= 1e100:
        return ">e99"
    if one_in < 1000:
        return str(math.floor(one_in))
    cut, exponent = _leading_digits(one_in, 2)
    if exponent < 9:
        scale, suffix = (1e3, "k") if exponent < 6 else (1e6, "M")
        return f"{cut * 10 ** (exponent - 1) / scale:g}{suffix}"
    return f"{cut // 10}e{exponent}"


def risk_name(risk_source: str) -> str:
    """'percentile of normal' or 'probability': what the number is, in a few words."""
    return NAMES.get(risk_source, "risk")


def risk_meaning(risk_source: str, alert_at: float) -> str:
    """One sentence for a header or a report: what the risk is and when it alerts."""
    what = LONG_NAMES.get(risk_source, "the next-window risk")
    return f"risk = {what}; alert at ≥ {alert_text(alert_at)}"


def alert_text(alert_at: float) -> str:
    return f"{Decimal(repr(float(alert_at))).normalize():f}"


def digits_for(alert_at: float) -> int:
    """Decimals the alert level needs to be written exactly (at least 2, at most MAX_DIGITS)."""
    exponent = Decimal(repr(float(alert_at))).normalize().as_tuple().exponent
    return min(MAX_DIGITS, max(2, -int(exponent)))


def shown_risk(risk: float, alert: bool, alert_at: float) -> str:
    """`risk` truncated to the alert level's digits, consistent with `alert` (see the module doc)."""
    digits = digits_for(alert_at)
    quantum = Decimal(1).scaleb(-digits)
    value = Decimal(repr(float(risk))).quantize(quantum, rounding=ROUND_FLOOR)
    level = Decimal(repr(float(alert_at)))
    if alert and Decimal(0) < level - value < quantum:  # a level finer than MAX_DIGITS: the level, rounded up
        value = level.quantize(quantum, rounding=ROUND_CEILING)
    elif not alert and Decimal(0) <= value - level < quantum:  # the stored risk was rounded up to the level
        value = level.quantize(quantum, rounding=ROUND_CEILING) - quantum
    return f"{value:.{digits}f}"


def truncated(risk: float, digits: int) -> str:
    """`risk` cut (not rounded) to `digits` decimals: it never reads above the value."""
    quantum = Decimal(1).scaleb(-digits)
    return f"{Decimal(repr(float(risk))).quantize(quantum, rounding=ROUND_FLOOR):.{digits}f}"


def warn_level(alert_at: float, risk_source: str = "label-free") -> float:
    """Where the colour turns from green to yellow. For a percentile, at the alert level's tail ×10
    (0.9 for 0.99: about one normal window in ten is yellow; half the level would paint half of
    all normal windows yellow); for a probability, half the alert level."""
    if risk_source == "label-free":
        return max(0.5 * alert_at, 1.0 - 10.0 * (1.0 - alert_at))
    return 0.5 * alert_at
