"""`feedback`: an operator's verdict on an alert or a stretch of data, appended to the feedback file
beside a `score --state` or `watch --state` file (`jepawatch.feedback`).

A verdict on an alert (`alert=FINGERPRINT`) takes the alert's stretch from the state's alert
trackers (the open alert and the last closed ones, `alerts.tracker.AlertTracker.known`): its times
(the first window's start_time to the newest alerting window's end_time) when the data has dates,
else its rows (window_start of the first window to window_end of the newest), and, for a
long-format table, its series.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from jepawatch.alerts.pipeline import STATE_FORMAT as ALERTS_FORMAT
from jepawatch.alerts.tracker import AlertPolicy, AlertTracker
from jepawatch.errors import ConfigError, DataError
from jepawatch.feedback import VERDICTS, Verdict, feedback_path, parse_time, read_feedback, record_feedback
from jepawatch.live.state import WATCH_STATE_FORMAT
from jepawatch.scoring.state import STATE_FORMAT as SCORE_STATE_FORMAT


def feedback_file(state: Path | None = None, file: Path | None = None) -> Path:
    """Where the verdicts go: `file` when given, else the file beside `state`."""
    if file is not None:
        return Path(file)
    if state is None:
        raise ConfigError("give the --state file of score or watch (the verdicts go beside it), or --file FEEDBACK.jsonl")
    return feedback_path(Path(state))


def record(verdict: str, *, state: Path | None = None, file: Path | None = None, start: str | int | None = None,
           end: str | int | None = None, alert: str | None = None, series: str | None = None, note: str = "",
           now: datetime | None = None) -> tuple[Verdict, Path]:
    """Append a verdict ("false_alarm" or "incident") on the stretch `start`..`end` (row numbers or ISO
    date-times, inclusive) or on the alert of `state` whose fingerprint is `alert`; returns it and the
    file it went to."""
    if verdict not in VERDICTS:
        raise ConfigError(f"verdict {verdict!r}: give one of {', '.join(VERDICTS)}")
    if (alert is None) == (start is None and end is None):
        raise ConfigError("give either --alert FINGERPRINT or --from and --to, not both and not neither")
    if alert is None and (start is None or end is None):
        raise ConfigError("give both --from and --to (row numbers or ISO date-times; both ends count)")
    if state is not None:
        _alerts_state(Path(state))  # a state file of score or watch, not the data or a typo
    path = feedback_file(state, file)
    if alert is not None:
        if state is None:
            raise ConfigError("--alert needs the state file whose alert it is: jepawatch feedback STATE --alert FINGERPRINT")
        start, end, series = alert_stretch(Path(state), alert.strip(), series)
    stamp = (now or datetime.now(timezone.utc)).astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    made = Verdict(verdict, str(start).strip(), str(end).strip(), series or None, note, stamp,
                   None if alert is None else alert.strip())
    record_feedback(path, made)
    return made, path


def verdicts(state: Path | None = None, file: Path | None = None) -> list[Verdict]:
    """The recorded verdicts, oldest first ([] when there is no feedback file yet)."""
    return read_feedback(feedback_file(state, file))


def state_alerts(state: Path) -> list[dict]:
    """The alerts a state file knows, oldest first per series: each as `AlertTracker.known` lists it,
    with its `series` and `status` (open or resolved)."""
    return _known(_alerts_state(state), state)


def _known(alerts: dict | None, state: Path) -> list[dict]:
    if alerts is None:
        return []
    try:
        shapes = alerts["series"].values() if isinstance(alerts.get("series"), dict) else [alerts]
        found = []
        for shape in shapes:
            if not shape or not shape.get("tracker"):
                continue
            tracker = AlertTracker.from_dict(shape["tracker"], AlertPolicy())
            found += [{"series": tracker.series, "status": "open" if known["ends_at"] is None else "resolved", **known}
                      for known in tracker.known()]
        return found
    except (TypeError, ValueError, KeyError, AttributeError):
        raise DataError(f"state file {state}: its alert state is damaged; delete the state file to start over") from None


def alert_stretch(state: Path, fingerprint: str, series: str | None) -> tuple[str, str, str | None]:
    """(start, end, series) of the alert `fingerprint` in `state`: its times when both are dates, else
    its rows; its series for a long-format table's state (else `series`)."""
    alerts = _alerts_state(state)
    known = _known(alerts, state)
    found = next((a for a in known if a["fingerprint"] == fingerprint), None)
    if found is None:
        if alerts is None:
            raise ConfigError(f"state file {state} keeps no alerts (score and watch keep them with --for, --clear, "
                              "--webhook or --prom-textfile); give the stretch with --from and --to")
        raise ConfigError(f"no alert {fingerprint} in state file {state} (it knows {len(known)}); list them with "
                          f"`jepawatch feedback {state} --alerts`")
    fleet = isinstance(alerts.get("series"), dict)
    if fleet and series is not None and series != found["series"]:
        raise ConfigError(f"alert {fingerprint} is of series {found['series']!r}, not {series!r}; leave out --series")
    if parse_time(found.get("start_time")) is not None and parse_time(found.get("end_time")) is not None:
        start, end = found["start_time"], found["end_time"]
    else:
        start, end = str(found["first_window_start"]), str(found["last_window_end"])
    return start, end, found["series"] if fleet else series


def _alerts_state(state: Path) -> dict | None:
    """The `alerts` record of a score or watch state file (None when it keeps none)."""
    try:
        data = json.loads(Path(state).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"no state file {state}; give the --state file of score or watch") from None
    except (ValueError, UnicodeDecodeError):
        raise DataError(f"state file {state} is not JSON; give the --state file of score or watch") from None
    if not isinstance(data, dict) or data.get("format") not in (SCORE_STATE_FORMAT, WATCH_STATE_FORMAT):
        raise DataError(f"{state} is not a state file of score or watch (--state); give that file, or the feedback "
                        "file with --file")
    alerts = data.get("alerts")
    if alerts is not None and (not isinstance(alerts, dict) or alerts.get("format") != ALERTS_FORMAT):
        raise DataError(f"state file {state}: its alert state is damaged; delete the state file to start over")
    return alerts


__all__ = ["alert_stretch", "feedback_file", "record", "state_alerts", "verdicts"]
