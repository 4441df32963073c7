"""Fitting words into table cells without cutting them: channel names, and a risk sparkline.

An operator acts on channel names, so a name is never cut mid-word: as many whole names as fit
are shown, then `+n` for the rest; a single name that cannot fit whole is abbreviated part by
part (`cpu_utilisation_percent` -> `cpu_util_perc`), which stays readable.
"""

from __future__ import annotations

import re

SPARK = "▁▂▃▄▅▆▇█"
_PARTS = re.compile(r"([_\-. /:]+)")


def split_names(drivers: str) -> list[str]:
    """'a, b, c' (a scored row's drivers) -> ['a', 'b', 'c']."""
    return [name for name in (part.strip() for part in drivers.split(", ")) if name]


def fit_names(names: list[str], width: int) -> str:
    """Whole names joined by ', ' within `width`, then ' +n' for those left out; the first name is
    abbreviated (never cut mid-part) when even it alone does not fit."""
    if not names or width <= 0:
        return ""
    for shown in range(len(names), 0, -1):
        rest = len(names) - shown
        text = ", ".join(names[:shown]) + (f" +{rest}" if rest else "")
        if len(text) <= width:
            return text
    rest = f" +{len(names) - 1}" if len(names) > 1 else ""
    return abbreviate(names[0], max(1, width - len(rest))) + rest


def abbreviate(name: str, width: int) -> str:
    """`name` in at most `width` characters: its longest parts cut to a stem first (8 letters, then
    6, 4, 3), separators kept; cut with '…' only as the last resort."""
    if len(name) <= width:
        return name
    pieces = _PARTS.split(name)  # words at even positions, separators at odd
    for stem in (8, 6, 4, 3):
        for i in sorted(range(0, len(pieces), 2), key=lambda i: -len(pieces[i])):
            if len("".join(pieces)) <= width:
                return "".join(pieces)
            pieces[i] = pieces[i][:stem]
    if len("".join(pieces)) <= width:
        return "".join(pieces)
    return name[: max(0, width - 1)] + "…"


def sparkline(values: list[float]) -> str:
    """Values in [0, 1] as block characters, one per value."""
    top = len(SPARK) - 1
    return "".join(SPARK[min(top, max(0, int(v * top + 0.5)))] for v in values)
