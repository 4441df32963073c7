"""The risk as Prometheus metrics: a node_exporter textfile (`score --prom-textfile`) or an HTTP
endpoint (`watch --metrics-port`), both from one registry (prometheus-client).

    jepawatch_next_window_risk{series, model}             the last scored window's risk
    jepawatch_one_in{series, model}                       how far out it is: as unusual as 1 in N normal windows
                                                          (keeps growing where the risk nears 1)
    jepawatch_alert{series, model}                        1 while an alert is open (with --for/--clear), else 0
    jepawatch_data_moved{series, model}                   1 while "the data moved" notice holds (scoring.data_moved)
    jepawatch_alerts_held_back_total{series, model}       alerts held back by the storm bound (--max-alerts) in this run
    jepawatch_windows_total{series, model}                windows scored (carried across runs with --state)
    jepawatch_gaps_total{series, model}                   gaps in a followed file (rotated away while nothing
                                                          watched, its rows in no file any more) in this run
    jepawatch_rows_lost_total{series, model}              rows lost in those gaps, estimated from the time stamps
    jepawatch_last_window_timestamp_seconds{series, model}  end time of the last scored window (Unix
                                                          seconds; the scoring time when the data has no dates)
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from jepawatch.alerts.tracker import parse_time
from jepawatch.atomic import atomic_write

PREFIX = "jepawatch"


class RiskMetrics:
    def __init__(self, windows_before: dict[tuple[str, str], float] | None = None):
        from prometheus_client import CollectorRegistry, Counter, Gauge

        self.registry = CollectorRegistry()
        labels = ("series", "model")
        self.risk = Gauge(f"{PREFIX}_next_window_risk", "Next-window risk of the last scored window "
                          "(percentile of held-out normal windows, or the supervised head's probability)",
                          labels, registry=self.registry)
        self.one_in = Gauge(f"{PREFIX}_one_in", "How far out the last scored window is: as unusual as 1 in this "
                            "many normal windows (1 / (1 - label-free risk))", labels, registry=self.registry)
        self.alert = Gauge(f"{PREFIX}_alert", "1 while an alert is open, else 0", labels, registry=self.registry)
        self.moved = Gauge(f"{PREFIX}_data_moved", "1 while the data has left the range its reference knows "
                           "(a notice instead of an alert every window; `jepawatch refit` settles it), else 0",
                           labels, registry=self.registry)
        self.held_back = Counter(f"{PREFIX}_alerts_held_back", "Alerts not opened because more than --max-alerts "
                                 "opened within 100 windows (a storm, counted and not sent)", labels, registry=self.registry)
        self.windows = Counter(f"{PREFIX}_windows", "Windows scored", labels, registry=self.registry)
        self.gaps = Counter(f"{PREFIX}_gaps", "Gaps in a followed file: rows written while nothing watched that no "
                            "file holds any more (windows start afresh after each)", labels, registry=self.registry)
        self.rows_lost = Counter(f"{PREFIX}_rows_lost", "Rows lost in gaps, estimated from the time stamps "
                                 "(a gap whose count the times cannot tell adds 0)", labels, registry=self.registry)
        self.last_time = Gauge(f"{PREFIX}_last_window_timestamp_seconds", "End time of the last scored window",
                               labels, registry=self.registry)
        for (series, model), count in (windows_before or {}).items():
            self.windows.labels(series, model).inc(count)

    def observe(self, series: str, model: str, row: dict, alert_open: bool) -> None:
        self.risk.labels(series, model).set(float(row["next_window_risk"]))
        if row.get("one_in") is not None:
            self.one_in.labels(series, model).set(float(row["one_in"]))
        self.alert.labels(series, model).set(1.0 if alert_open else 0.0)
        self.moved.labels(series, model).set(1.0 if row.get("notice") else 0.0)
        self.windows.labels(series, model).inc()
        if "rows_lost_before" in row:  # the first window after a gap
            self.gaps.labels(series, model).inc()
            self.rows_lost.labels(series, model).inc(row["rows_lost_before"] or 0)
        self.last_time.labels(series, model).set(_seconds(row.get("end_time")))

    def windows_total(self) -> dict[tuple[str, str], float]:
        """(series, model) -> windows scored so far, for the state file."""
        out = {}
        for metric in self.windows.collect():
            for sample in metric.samples:
                if sample.name.endswith("_total"):
                    out[(sample.labels["series"], sample.labels["model"])] = sample.value
        return out

    def text(self) -> str:
        from prometheus_client import generate_latest

        return generate_latest(self.registry).decode()

    def write_textfile(self, path: Path) -> None:
        """Atomically (node_exporter must never read half a file); the name should end in .prom."""
        atomic_write(path, lambda p: p.write_text(self.text(), encoding="utf-8"))

    def serve(self, port: int, address: str = "127.0.0.1"):
        """Serve /metrics on address:port in a background thread; returns (server, thread)."""
        from prometheus_client import start_http_server

        server, thread = start_http_server(port, addr=address, registry=self.registry)
        return server, thread


def _seconds(end_time: str | None) -> float:
    moment = parse_time(end_time)
    return (moment or datetime.now(timezone.utc)).timestamp()
