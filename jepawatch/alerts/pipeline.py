"""What `score` and `watch` do with their rows for alerting: each row goes through the series'
alert tracker (hysteresis), each event it causes is printed in one line and posted to the webhook,
and the metrics follow the rows. The state (tracker and window count) is saved with `--state`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from jepawatch.alerts.alertmanager import webhook_body
from jepawatch.alerts.tracker import FIRING, AlertEvent, AlertPolicy, AlertTracker

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


class Alerting:
    def __init__(self, settings: AlertSettings, series: str, model: str, saved: dict | None = None,
                 notify: Callable[[str], None] = lambda line: None, warn: Callable[[str], None] = lambda m: None):
        from jepawatch.alerts.webhook import WebhookDelivery, parse_headers

        policy = AlertPolicy(settings.for_windows, settings.clear_windows)
        self.settings, self.series, self.model, self.notify = settings, series, model, notify
        tracker_state = (saved or {}).get("tracker")
        self.tracker = (AlertTracker.from_dict(tracker_state, policy)
                        if tracker_state and tracker_state.get("series") == series and tracker_state.get("model") == model
                        else AlertTracker(series, model, policy))
        self.windows_before = float((saved or {}).get("windows_total", 0))
        self.metrics = None
        if settings.prom_textfile is not None or settings.metrics_port is not None:
            from jepawatch.alerts.metrics import RiskMetrics

            self.metrics = RiskMetrics({(series, model): self.windows_before})
        self.server = self.metrics.serve(settings.metrics_port, settings.metrics_address) \
            if self.metrics is not None and settings.metrics_port is not None else None
        self.delivery = None
        if settings.webhook:
            spool = settings.webhook_spool or default_spool(settings.webhook)
            self.delivery = WebhookDelivery(settings.webhook, spool, parse_headers(settings.webhook_headers), warn=warn)
        self.windows = 0

    def observe(self, rows: list[dict]) -> list[AlertEvent]:
        events = []
        for row in rows:
            new = self.tracker.update(row)
            self.windows += 1
            if self.metrics is not None:
                self.metrics.observe(self.series, self.model, row, self.tracker.open is not None)
            for event in new:
                self.notify(describe(event))
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
