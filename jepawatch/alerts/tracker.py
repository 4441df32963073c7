"""Alert state per series, with hysteresis: an alert opens after `for_windows` consecutive alerting
windows and closes after `clear_windows` consecutive normal ones, the way Alertmanager's `for:`
and a resolve delay keep one noisy stretch from paging someone every window.

Each scored row (`scoring.scorer.Scorer.rows`) goes through `AlertTracker.update`, which returns
the events it causes: `firing` when an alert opens, `resolved` when it closes. Storms are bounded:
at most `max_alerts` alerts open per series within `RATE_WINDOWS` windows; more are held back and
counted (`held_back`), not sent. An open alert
follows its peak (highest risk, with that window's regime codes and drivers). The tracker's state
is plain data (`to_dict` / `from_dict`), kept in `score --state` so that a cron run continues an
open alert instead of opening it again, with the last `HISTORY` closed alerts (`history`), so that an
operator's verdict (`jepawatch feedback --alert`) can name one by its fingerprint.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone

from jepawatch.errors import ConfigError

FIRING, RESOLVED, HELD = "firing", "resolved", "held"  # HELD: an alert the storm bound kept from opening
RISK, MOVED = "risk", "moved"  # what an event is about
MAX_ALERTS, RATE_WINDOWS = 10, 100  # a storm's bound: at most this many alerts open per series within this many windows' rows
HISTORY = 100  # closed alerts a tracker remembers


@dataclass(frozen=True)
class AlertPolicy:
    for_windows: int = 1  # consecutive alerting windows before an alert opens
    clear_windows: int = 1  # consecutive normal windows before it closes
    max_alerts: int = MAX_ALERTS  # alerts that may open within RATE_WINDOWS windows; more are held back (0: no cap)

    def __post_init__(self):
        if self.for_windows < 1:
            raise ConfigError(f"--for {self.for_windows}: an alert needs at least 1 alerting window to open")
        if self.clear_windows < 1:
            raise ConfigError(f"--clear {self.clear_windows}: an alert needs at least 1 normal window to close")
        if self.max_alerts < 0:
            raise ConfigError(f"--max-alerts {self.max_alerts}: give 0 (no cap) or more alerts per {RATE_WINDOWS} windows")


@dataclass
class AlertEvent:
    status: str  # firing | resolved
    series: str
    model: str
    starts_at: str  # RFC 3339, UTC: when the alert opened (its first alerting window's end)
    ends_at: str | None  # RFC 3339 when resolved (the end of the normal window that closed it, the M-th)
    peak_risk: float
    peak_window_start: int
    regime: str  # at the peak
    coarse_regime: int
    drivers: str
    window_start: int  # the window that caused this event
    window_end: int
    fingerprint: str  # the same for the firing and the resolved event of one alert
    kind: str = RISK  # RISK: the next-window risk; MOVED: "the data moved" notice (scoring.data_moved)
    notice: str | None = None  # MOVED: the notice's text

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class OpenAlert:
    starts_at: str
    first_window_start: int
    peak_risk: float
    peak_window_start: int
    regime: str
    coarse_regime: int
    drivers: str
    last_window_end: int | None = None  # the end of its newest alerting window (None: saved by an older jepawatch)
    start_time: str | None = None  # its first window's start_time and its newest alerting window's end_time
    end_time: str | None = None


@dataclass
class AlertTracker:
    series: str
    model: str
    policy: AlertPolicy = field(default_factory=AlertPolicy)
    alerting_run: int = 0  # consecutive alerting windows up to the last one
    normal_run: int = 0  # consecutive normal windows up to the last one
    pending_start: str | None = None  # end time of the first window of the current alerting run
    pending_window: int | None = None
    pending_peak: dict | None = None  # the peak of the current alerting run before it opens
    open: OpenAlert | None = None
    last_window_start: int | None = None  # the newest window seen: a repeated one (a rerun) is skipped
    pending_start_time: str | None = None  # start_time of the first window of the current alerting run
    history: list[dict] = field(default_factory=list)  # the last HISTORY closed alerts, oldest first
    moved: dict | None = None  # the open "data moved" notice: since (its text's time), window, notice
    opened_at: list[int] = field(default_factory=list)  # first window start (row) of each of the latest alerts
    held_back: int = 0  # alerts not opened because more than max_alerts opened within RATE_WINDOWS windows

    def update(self, row: dict, now: datetime | None = None) -> list[AlertEvent]:
        """Feed one scored row (in order); the events it causes (none, one firing or one resolved).
        A window at or before the last one seen (a run scoring windows again) changes nothing."""
        start = int(row["window_start"])
        if self.last_window_start is not None and start <= self.last_window_start:
            return []
        self.last_window_start = start
        stamp = event_time(row.get("end_time"), now)
        moved = self._moved(row, stamp)
        if moved:
            return moved
        if row["alert"]:
            self.alerting_run, self.normal_run = self.alerting_run + 1, 0
            if self.alerting_run == 1:
                self.pending_start, self.pending_window, self.pending_peak = stamp, int(row["window_start"]), None
                self.pending_start_time = row.get("start_time")
            if self.open is not None:
                self._follow_peak(row)
                self.open = replace(self.open, last_window_end=int(row["window_end"]), end_time=row.get("end_time"))
                return []
            self.pending_peak = _peak(self.pending_peak, row)
            if self.alerting_run >= self.policy.for_windows:
                span = RATE_WINDOWS * (int(row["window_end"]) - start + 1)  # RATE_WINDOWS windows' rows, at any stride
                self.opened_at = [w for w in self.opened_at if w > start - span]
                if self.policy.max_alerts and len(self.opened_at) >= self.policy.max_alerts:
                    if self.alerting_run != self.policy.for_windows:
                        return []
                    self.held_back += 1  # a storm: this alert is counted and said, not sent
                    p = self.pending_peak
                    return [AlertEvent(HELD, self.series, self.model, stamp, None, p["risk"], p["window_start"], p["regime"],
                                       p["coarse_regime"], p["drivers"], start, int(row["window_end"]),
                                       fingerprint(self.series, self.model, self.pending_window), HELD,
                                       f"{self.policy.max_alerts} alerts opened in the last {RATE_WINDOWS} windows; "
                                       f"{self.held_back} held back so far")]
                self.opened_at.append(start)
                p = self.pending_peak
                self.open = OpenAlert(self.pending_start, self.pending_window, p["risk"], p["window_start"],
                                      p["regime"], p["coarse_regime"], p["drivers"], int(row["window_end"]),
                                      self.pending_start_time, row.get("end_time"))
                return [self._event(FIRING, row, None)]
            return []
        self.alerting_run, self.normal_run = 0, self.normal_run + 1
        self.pending_peak = None
        if self.open is not None and self.normal_run >= self.policy.clear_windows:
            event = self._event(RESOLVED, row, stamp)
            self.history = [*self.history, self._closed(event, row)][-HISTORY:]
            self.open = None
            return [event]
        return []

    def _moved(self, row: dict, stamp: str) -> list[AlertEvent]:
        """The notice's events: when it starts, the open alert resolves and one MOVED event fires (instead
        of an alert every window); when it ends, that event resolves. Nothing while it goes on."""
        notice = row.get("notice")
        if bool(notice) == (self.moved is not None):
            return []
        if notice:
            events = []
            if self.open is not None:
                events.append(self._event(RESOLVED, row, stamp))
                self.history = [*self.history, self._closed(events[0], row)][-HISTORY:]
                self.open = None
            self.alerting_run, self.pending_peak = 0, None
            self.moved = {"starts_at": stamp, "window": int(row["window_start"]), "notice": str(notice)}
            return events + [self._moved_event(FIRING, row, None)]
        event = self._moved_event(RESOLVED, row, stamp)
        self.moved = None
        return [event]

    def _moved_event(self, status: str, row: dict, ends_at: str | None) -> AlertEvent:
        m = self.moved
        return AlertEvent(status, self.series, self.model, m["starts_at"], ends_at, float(row["next_window_risk"]),
                          int(row["window_start"]), str(row["regime"]), int(row["coarse_regime"]), str(row["drivers"]),
                          int(row["window_start"]), int(row["window_end"]),
                          fingerprint(self.series, self.model, m["window"], MOVED), MOVED, m["notice"])

    def _closed(self, event: AlertEvent, row: dict) -> dict:
        """What `history` keeps of an alert that closed at `row`."""
        o = self.open
        # opened under an older jepawatch, which kept no last window: up to the window that closed it
        last = o.last_window_end if o.last_window_end is not None else int(row["window_end"])
        return {"fingerprint": event.fingerprint, "first_window_start": o.first_window_start, "last_window_end": last,
                "starts_at": o.starts_at, "ends_at": event.ends_at, "peak_risk": o.peak_risk,
                "start_time": o.start_time, "end_time": o.end_time if o.last_window_end is not None else row.get("end_time")}

    def find(self, wanted: str) -> dict | None:
        """The open or a remembered closed alert whose fingerprint is `wanted`, as `known` lists it; None
        when the tracker does not know it."""
        return next((known for known in self.known() if known["fingerprint"] == wanted), None)

    def known(self) -> list[dict]:
        """The alerts this tracker knows, oldest first, as `history` holds them: the remembered closed ones,
        then the open one (`ends_at` None; its stretch up to its newest alerting window)."""
        known = list(self.history)
        o = self.open
        if o is not None:
            last = o.last_window_end if o.last_window_end is not None else self.last_window_start
            known.append({"fingerprint": fingerprint(self.series, self.model, o.first_window_start),
                          "first_window_start": o.first_window_start, "last_window_end": last, "starts_at": o.starts_at,
                          "ends_at": None, "peak_risk": o.peak_risk, "start_time": o.start_time, "end_time": o.end_time})
        return known

    def _follow_peak(self, row: dict) -> None:
        risk = float(row["next_window_risk"])
        if risk > self.open.peak_risk:
            self.open = replace(self.open, peak_risk=risk, peak_window_start=int(row["window_start"]),
                                regime=str(row["regime"]), coarse_regime=int(row["coarse_regime"]), drivers=str(row["drivers"]))

    def _event(self, status: str, row: dict, ends_at: str | None) -> AlertEvent:
        o = self.open
        return AlertEvent(status, self.series, self.model, o.starts_at, ends_at, o.peak_risk, o.peak_window_start,
                          o.regime, o.coarse_regime, o.drivers, int(row["window_start"]), int(row["window_end"]),
                          fingerprint(self.series, self.model, o.first_window_start))

    def to_dict(self) -> dict:
        return {"series": self.series, "model": self.model, "policy": asdict(self.policy),
                "alerting_run": self.alerting_run, "normal_run": self.normal_run,
                "pending_start": self.pending_start, "pending_window": self.pending_window,
                "pending_peak": self.pending_peak, "open": None if self.open is None else asdict(self.open),
                "last_window_start": self.last_window_start, "pending_start_time": self.pending_start_time,
                "history": list(self.history), "moved": self.moved, "opened_at": self.opened_at,
                "held_back": self.held_back}

    @classmethod
    def from_dict(cls, d: dict, policy: AlertPolicy) -> "AlertTracker":
        """The saved state under the policy of this run (a changed --for/--clear applies from now on)."""
        return cls(str(d["series"]), str(d["model"]), policy, int(d["alerting_run"]), int(d["normal_run"]),
                   d["pending_start"], d["pending_window"], d["pending_peak"],
                   None if d["open"] is None else OpenAlert(**d["open"]),
                   None if d.get("last_window_start") is None else int(d["last_window_start"]),
                   d.get("pending_start_time"), list(d.get("history") or [])[-HISTORY:], _moved_record(d.get("moved")),
                   [int(w) for w in d.get("opened_at", [])][-RATE_WINDOWS:], int(d.get("held_back", 0)))


def _peak(peak: dict | None, row: dict) -> dict:
    risk = float(row["next_window_risk"])
    if peak is not None and peak["risk"] >= risk:
        return peak
    return {"risk": risk, "window_start": int(row["window_start"]), "regime": str(row["regime"]),
            "coarse_regime": int(row["coarse_regime"]), "drivers": str(row["drivers"])}


def event_time(end_time: str | None, now: datetime | None = None) -> str:
    """RFC 3339 UTC: the window's end time when it is a date (naive times are read as UTC), else now."""
    moment = parse_time(end_time)
    return _rfc3339(moment if moment is not None else (now or datetime.now(timezone.utc)))


def parse_time(text: str | None) -> datetime | None:
    """An ISO date-time (YYYY-MM-DD...) as an aware UTC datetime; None for anything else (a row
    number, digits such as 10000101, a time out of range)."""
    if not text or "-" not in str(text)[:5]:
        return None
    try:
        moment = datetime.fromisoformat(str(text))
        return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)
    except (ValueError, OverflowError):
        return None


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def fingerprint(series: str, model: str, first_window_start: int, kind: str = RISK) -> str:
    """16 hex digits naming one alert (as Alertmanager's fingerprints do)."""
    key = f"{series}\0{model}\0{first_window_start}" + ("" if kind == RISK else f"\0{kind}")
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def _moved_record(saved) -> dict | None:
    """A saved open notice, checked (a damaged one is a ValueError, said as a damaged state)."""
    if saved is None:
        return None
    if not isinstance(saved, dict) or not isinstance(saved.get("starts_at"), str) or \
            not isinstance(saved.get("notice"), str) or not isinstance(saved.get("window"), int):
        raise ValueError("the open notice is damaged")
    return {"starts_at": saved["starts_at"], "window": saved["window"], "notice": saved["notice"]}
