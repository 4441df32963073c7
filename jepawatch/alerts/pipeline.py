"""What `score` and `watch` do with their rows for alerting: each row goes through the series'
alert tracker (hysteresis), each event it causes is posted to the webhook (and returned, for the
caller to print in one line with `describe`), and the metrics follow the rows. The state (tracker
and window count) is saved with `--state`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from jepawatch.alerts.alertmanager import webhook_body
from jepawatch.alerts.tracker import FIRING, AlertEvent, AlertPolicy, AlertTracker
from jepawatch.errors import ConfigError

STATE_FORMAT = "jepawatch-alerts/1"


@dataclass
class AlertSettings:
    for_windows: int = 1
    clear_windows: int = 1
    webhook: str | None = None
    webhook_headers: list[str] = field(default_factory=list)  # 'Name: value', never printed
    webhook_spool: Path | None = None  # default: beside --state, else in the user's cache directory
    prom_textfile: Path | None = None
    metrics_port: int | None = None
    metrics_address: str = "127.0.0.1"
    series: str | None = None  # the name events and metrics carry; default: the input file's name

    def check(self) -> None:
        """Refuse bad options in one line (never showing a header's value) before anything is read."""
        from jepawatch.alerts.webhook import check_url, parse_headers

        AlertPolicy(self.for_windows, self.clear_windows)
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
                 warn: Callable[[str], None] = lambda m: None, spool_beside: Path | None = None):
        from jepawatch.alerts.webhook import WebhookDelivery, check_url, parse_headers

        policy = AlertPolicy(settings.for_windows, settings.clear_windows)
        headers = parse_headers(settings.webhook_headers)  # bad options are refused before anything starts
        if settings.webhook:
            check_url(settings.webhook)
        self.settings, self.series, self.model = settings, settings.series or series, model
        series = self.series
        tracker_state = (saved or {}).get("tracker")
        self.tracker = (AlertTracker.from_dict(tracker_state, policy)
                        if tracker_state and tracker_state.get("series") == series and tracker_state.get("model") == model
                        else AlertTracker(series, model, policy))
        self.windows_before = float((saved or {}).get("windows_total", 0))
        self.metrics = None
        if settings.prom_textfile is not None or settings.metrics_port is not None:
            from jepawatch.alerts.metrics import RiskMetrics

            self.metrics = RiskMetrics({(series, model): self.windows_before})
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
                                               if spool_beside is not None else default_spool(settings.webhook))
            self.delivery = WebhookDelivery(settings.webhook, spool, headers, warn=warn)
        self.windows = 0

    def observe(self, rows: list[dict]) -> list[AlertEvent]:
        events = []
        for row in rows:
            new = self.tracker.update(row)
            self.windows += 1
            if self.metrics is not None:
                self.metrics.observe(self.series, self.model, row, self.tracker.open is not None)
            for event in new:
                if self.delivery is not None:
                    self.delivery.submit(webhook_body(event))
            events += new
        if self.metrics is not None and self.settings.prom_textfile is not None and rows:
            self.metrics.write_textfile(self.settings.prom_textfile)
        return events

    def state(self) -> dict:
        return {"format": STATE_FORMAT, "tracker": self.tracker.to_dict(),
                "windows_total": self.windows_before + self.windows}

    def close(self) -> None:
        if self.metrics is not None and self.settings.prom_textfile is not None:
            self.metrics.write_textfile(self.settings.prom_textfile)  # also when this run scored nothing new
        if self.delivery is not None:
            self.delivery.close()
        if self.server is not None:
            self.server.shutdown()


def series_name(data) -> str:
    """A series' default name: its file's name without the suffix (`DataFrame` for a frame)."""
    return Path(data).stem if isinstance(data, (str, Path)) else "DataFrame"


def describe(event: AlertEvent) -> str:
    if event.status == FIRING:
        return (f"alert firing: {event.series} since {event.starts_at}, risk {event.peak_risk:.3f}, "
                f"regime {event.regime}, drivers {event.drivers}")
    return f"alert resolved: {event.series} at {event.ends_at} (open since {event.starts_at}, peak risk {event.peak_risk:.3f})"


def default_spool(url: str) -> Path:
    """Without --state: one spool per webhook URL in the user's cache directory."""
    import hashlib
    import os

    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "jepawatch"
    return cache / f"webhook-spool-{hashlib.sha256(url.encode()).hexdigest()[:12]}.jsonl"
