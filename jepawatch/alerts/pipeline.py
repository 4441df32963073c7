"""What `score` and `watch` do with their rows for alerting: each row goes through the series'
alert tracker (hysteresis), each event it causes is posted to the webhook (and returned, for the
caller to print in one line with `describe`), and the metrics follow the rows. The state (tracker
and window count) is saved with `--state`.

A long-format table (`fleet=True`) has one tracker and window count per series, named by the
rows' `series` field (`--series NAME` then prefixes them: `NAME/host`); they share the webhook,
its spool and the metrics, whose `series` label tells them apart."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from jepawatch.adapters import url_name, url_scheme
from jepawatch.alerts.alertmanager import webhook_body
from jepawatch.alerts.tracker import FIRING, HELD, MAX_ALERTS, MOVED, AlertEvent, AlertPolicy, AlertTracker
from jepawatch.errors import ConfigError

STATE_FORMAT = "jepawatch-alerts/1"


@dataclass
class AlertSettings:
    for_windows: int = 1
    clear_windows: int = 1
    webhook: str | None = None
    webhook_headers: list[str] = field(default_factory=list, repr=False)  # 'Name: value', never printed
    webhook_spool: Path | None = None  # default: beside --state, else in the user's cache directory
    prom_textfile: Path | None = None
    metrics_port: int | None = None
    metrics_address: str = "127.0.0.1"
    series: str | None = None  # the name events and metrics carry; default: the input file's name
    max_alerts: int = MAX_ALERTS  # alerts that may open per series within RATE_WINDOWS windows (0: no cap)

    def check(self) -> None:
        """Refuse bad options in one line (never showing a header's value) before anything is read."""
        from jepawatch.alerts.webhook import check_url, parse_headers

        AlertPolicy(self.for_windows, self.clear_windows, self.max_alerts)
        parse_headers(self.webhook_headers)
        if self.webhook:
            check_url(self.webhook)
        if self.metrics_port is not None and not 0 <= self.metrics_port <= 65535:
            raise ConfigError(f"--metrics-port {self.metrics_port} is not a TCP port (0-65535)")

    @property
    def active(self) -> bool:
        """Anything to do beyond the rows' own alert flags."""
        return bool(self.webhook or self.prom_textfile or self.metrics_port is not None
                    or self.for_windows != 1 or self.clear_windows != 1)


class Alerting:
    def __init__(self, settings: AlertSettings, series: str, model: str, saved: dict | None = None,
                 warn: Callable[[str], None] = lambda m: None, spool_beside: Path | None = None, fleet: bool = False):
        from jepawatch.alerts.webhook import WebhookDelivery, parse_headers

        settings.check()  # bad options are refused before anything starts
        policy = AlertPolicy(settings.for_windows, settings.clear_windows, settings.max_alerts)
        self.settings, self.series, self.model, self.warn = settings, settings.series or series, model, warn
        series = self.series
        self.policy, self.fleet = policy, fleet
        self.saved = _fleet_saved(saved) if fleet else {}
        self.trackers: dict[str, AlertTracker] = {}
        self.windows_before: dict[str, float] = {}
        self.windows: dict[str, int] = {}
        if not fleet:
            self.trackers[series], self.windows_before[series] = _restored(saved, series, model, policy, warn)
        self.metrics = None
        if settings.prom_textfile is not None or settings.metrics_port is not None:
            from jepawatch.alerts.metrics import RiskMetrics

            self.metrics = RiskMetrics({(name, model): count for name, count in self.windows_before.items()})
        self.server = None
        if self.metrics is not None and settings.metrics_port is not None:
            try:
                self.server = self.metrics.serve(settings.metrics_port, settings.metrics_address)
            except OSError as exc:
                raise ConfigError(f"cannot serve metrics on {settings.metrics_address}:{settings.metrics_port} "
                                  f"({exc.strerror or exc}); choose another --metrics-port") from None
        self.delivery = None
        if settings.webhook:
            spool = settings.webhook_spool or (spool_beside.with_name(spool_beside.name + ".webhook-spool.jsonl")
                                               if spool_beside is not None else default_spool(settings.webhook, series))
            try:
                self.delivery = WebhookDelivery(settings.webhook, spool, parse_headers(settings.webhook_headers), warn=warn)
            except OSError as exc:
                self._stop_server()
                raise ConfigError(f"cannot keep the webhook's spool {spool} ({exc.strerror or exc}); "
                                  "use a --state file in a directory this user can write") from None
            except BaseException:
                self._stop_server()
                raise

    def observe(self, rows: list[dict]) -> list[AlertEvent]:
        """Feed the new rows; the events they raise (already spooled for the webhook)."""
        events = []
        for row in rows:
            name = self._name(row)
            tracker = self._tracker(name)
            new = tracker.update(row)
            self.windows[name] = self.windows.get(name, 0) + 1
            if self.metrics is not None:
                self.metrics.observe(name, self.model, row, tracker.open is not None)
            for event in new:
                if event.status == HELD:
                    if self.metrics is not None:
                        self.metrics.held_back.labels(name, self.model).inc()
                    continue  # said, counted, never sent: that is what holding back a storm is
                if self.delivery is not None:
                    self.delivery.submit(webhook_body(event))
            events += new
        if self.metrics is not None and self.settings.prom_textfile is not None and rows:
            try:
                self.metrics.write_textfile(self.settings.prom_textfile)
            except OSError as exc:  # the scores and the alert state matter more than the metric
                self.warn(f"could not write the metrics file {self.settings.prom_textfile} ({exc.strerror or exc})")
        return events

    def messages(self) -> list[str]:
        """Delivery problems since the last call, for the scoring thread to show."""
        return self.delivery.messages() if self.delivery is not None else []

    @property
    def tracker(self) -> AlertTracker:
        """The one series' tracker (not with `fleet`)."""
        return self.trackers[self.series]

    def state(self) -> dict:
        if not self.fleet:
            return {"format": STATE_FORMAT, "tracker": self.tracker.to_dict(),
                    "windows_total": self.windows_before[self.series] + self.windows.get(self.series, 0)}
        by_series = dict(self.saved)  # series absent from this run keep theirs
        for name, tracker in self.trackers.items():
            by_series[name] = {"format": STATE_FORMAT, "tracker": tracker.to_dict(),
                               "windows_total": self.windows_before[name] + self.windows.get(name, 0)}
        return {"format": STATE_FORMAT, "series": by_series}

    def _name(self, row: dict) -> str:
        if not self.fleet:
            return self.series
        return f"{self.settings.series}/{row['series']}" if self.settings.series else str(row["series"])

    def _tracker(self, name: str) -> AlertTracker:
        if name not in self.trackers:
            self.trackers[name], self.windows_before[name] = _restored(self.saved.get(name), name, self.model,
                                                                       self.policy, self.warn)
            if self.metrics is not None and self.windows_before[name]:
                self.metrics.windows.labels(name, self.model).inc(self.windows_before[name])
        return self.trackers[name]

    def close(self) -> None:
        """Deliver what can be delivered in a few seconds (the rest stays spooled) and stop serving."""
        try:
            if self.delivery is not None:
                self.delivery.close()
        finally:
            self._stop_server()

    def _stop_server(self) -> None:
        if self.server is not None:
            server, thread = self.server
            server.shutdown()
            server.server_close()
            thread.join(5.0)
            self.server = None


def _restored(saved: dict | None, series: str, model: str, policy: AlertPolicy, warn) -> tuple[AlertTracker, float]:
    """The tracker and window count saved in a state file, checked; fresh ones without."""
    if not saved:
        return AlertTracker(series, model, policy), 0.0
    try:
        if not isinstance(saved, dict) or saved.get("format") != STATE_FORMAT:
            raise ValueError("not an alert state")
        total = float(saved.get("windows_total", 0))
        tracker_state = saved.get("tracker")
        if not tracker_state:
            return AlertTracker(series, model, policy), total
        if tracker_state.get("series") != series or tracker_state.get("model") != model:
            if tracker_state.get("open"):
                warn(f"the state holds an open alert of series {tracker_state.get('series')!r} (model "
                     f"{tracker_state.get('model')!r}); this run watches {series!r} with {model!r}, so that alert "
                     "will not be resolved here")
            return AlertTracker(series, model, policy), total
        return AlertTracker.from_dict(tracker_state, policy), total
    except (TypeError, ValueError, KeyError, AttributeError):
        from jepawatch.errors import DataError

        raise DataError("the state file's alert state is damaged; delete the state file to start over") from None


def _fleet_saved(saved: dict | None) -> dict[str, dict]:
    """The per-series alert states of a long-format table's state file."""
    if not saved:
        return {}
    if not isinstance(saved, dict) or saved.get("format") != STATE_FORMAT or not isinstance(saved.get("series"), dict):
        from jepawatch.errors import DataError

        raise DataError("the state file's alert state is not one of many series; delete the state file to start over")
    return dict(saved["series"])


def series_name(data) -> str:
    """A series' default name: its file's name without the suffix, a server's host and port
    (`DataFrame` for a frame)."""
    if isinstance(data, str) and url_scheme(data) is not None:
        return url_name(data)
    return Path(data).stem if isinstance(data, (str, Path)) else "DataFrame"


def describe(event: AlertEvent) -> str:
    if event.status == HELD:
        return (f"alert held back: {event.series} at {event.starts_at}, risk {event.peak_risk:.3f}: {event.notice} "
                "(the storm bound, --max-alerts)")
    if event.kind == MOVED:
        if event.status == FIRING:
            return f"notice: {event.series}: {event.notice}"
        return f"notice ended: {event.series} at {event.ends_at}: the data is back within its reference"
    if event.status == FIRING:
        return (f"alert firing: {event.series} since {event.starts_at}, risk {event.peak_risk:.3f}, "
                f"regime {event.regime}, drivers {event.drivers}")
    return f"alert resolved: {event.series} at {event.ends_at} (open since {event.starts_at}, peak risk {event.peak_risk:.3f})"


def default_spool(url: str, series: str) -> Path:
    """Without --state: one spool per webhook URL and series in the user's cache directory."""
    import hashlib
    import os

    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "jepawatch"
    digest = hashlib.sha256((url + "\0" + series).encode()).hexdigest()[:12]
    return cache / f"webhook-spool-{digest}.jsonl"
