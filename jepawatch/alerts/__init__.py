"""Alerts that reach people: per-series alert state with hysteresis (`tracker`), the Alertmanager
webhook body (`alertmanager`), delivery with retries and a spool (`webhook`), and Prometheus
metrics as a node_exporter textfile or an HTTP endpoint (`metrics`)."""
