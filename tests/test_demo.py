"""`jepawatch demo`: the generator, the summary's arithmetic, and the command end to end (tiny run)."""

from __future__ import annotations

import numpy as np
from typer.testing import CliRunner

from jepawatch.cli.app import app
from jepawatch.demo.generator import CHANNELS, PRECURSOR_ROWS, make_demo_data
from jepawatch.demo.run import summarise

runner = CliRunner()


def test_generated_series_is_seasonal_correlated_and_labels_only_the_anomalies():
    data = make_demo_data(train_rows=3000, live_rows=2000, seed=1, n_anomalies=4)
    assert list(data.train.columns) == ["timestamp", *CHANNELS] and "label" in data.live.columns
    assert len(data.train) == 3000 and len(data.live) == 2000
    train = data.train[list(CHANNELS)].to_numpy()
    assert np.corrcoef(train[:, 0], train[:, 1])[0, 1] > 0.9  # requests and CPU share the load
    assert [a.kind for a in data.anomalies] == ["spike", "drift", "spike", "drift"]
    label = data.live["label"].to_numpy()
    for anomaly in data.anomalies:
        assert label[anomaly.start: anomaly.start + anomaly.length].all()
        assert not label[anomaly.start - PRECURSOR_ROWS: anomaly.start].any()  # the precursor is not labelled
    assert label.sum() == sum(a.length for a in data.anomalies)
    spike = data.anomalies[0]
    latency = data.live["latency_ms"].to_numpy()
    assert latency[spike.start: spike.start + spike.length].max() > 2 * np.median(latency)
    again = make_demo_data(train_rows=3000, live_rows=2000, seed=1, n_anomalies=4)
    assert again.live.equals(data.live)


def test_summary_counts_early_warnings_lead_times_and_false_alarms():
    window = 10
    labels = np.zeros(200, dtype=int)
    labels[45:50] = 1  # starts in window 40..49
    labels[182:190] = 1  # starts in window 180..189
    rows = [{"window_start": s, "window_end": s + window - 1, "alert": s in (20, 30, 60, 180)} for s in range(10, 191, 10)]
    summary = summarise(rows, labels, window)
    # the alerts on windows 20 and 30 announce window 40: warned, 15 rows ahead (from the end of window 20)
    assert (summary.anomalies, summary.warned, summary.mean_lead_minutes) == (2, 1, 15.0)
    # the alert on window 20 (20 and 30 normal) is part of that warning, not a false alarm; the one on
    # window 60 is (60 and 70 normal, no incident within 4 windows); the one on window 180 is raised
    # while an anomaly is under way (it holds labelled rows), although window 190 is normal
    assert summary.alerted_during == 1 and summary.false_alarms == 1
    assert summary.alerts == 4 and summary.detected == 2


def test_demo_runs_end_to_end(tmp_path):
    result = runner.invoke(app, ["demo", "--out", str(tmp_path / "demo"), "--epochs", "1", "--speed", "max", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    for fragment in ("demo summary", "anomalies in the replayed part: 8", "warned before they began", "mean lead time"):
        assert fragment in result.stdout, result.stdout
    assert (tmp_path / "demo" / "data" / "demo_live.csv").exists()
    assert (tmp_path / "demo" / "models" / "demo" / "weights.safetensors").exists()
    report = tmp_path / "demo" / "report.html"
    assert f"report: {report}" in " ".join(result.stdout.split())  # the demo ends with its report's path
    page = report.read_text()
    for figure in ('id="risk-timeline"', 'id="regime-strip"', 'id="code-histogram"', 'id="training-curves"'):
        assert figure in page
