"""A Prometheus server as a source (jepawatch-adapters' `prometheus` adapter), against a real
server started by the test on localhost with backfilled history (tests/prometheus_server.py)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from jepawatch.cli.app import app

from conftest import TINY_MTS
from prometheus_server import AVAILABLE, MISSING, PrometheusServer, free_port, openmetrics, self_signed_certificate

pytestmark = pytest.mark.skipif(not AVAILABLE, reason=MISSING)
runner = CliRunner()
STEP = 15
ROWS = 1200
USER, PASSWORD = "jepawatch", "test-password"
PASSWORD_HASH = "$2b$04$0mKRRi24BOXGwQqGNBJIl.eRy8o96VAZl68Hor7/kFfVrPDC.pLJm"  # bcrypt of PASSWORD, 4 rounds


def history(rows: int = ROWS, seed: int = 0) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Times (Unix seconds, every STEP, ending 30 minutes ago) and three channels of one instance."""
    end = (int(time.time()) // STEP) * STEP - 1800
    times = np.arange(end - (rows - 1) * STEP, end + 1, STEP)
    rng = np.random.default_rng(seed)
    t = np.arange(rows)
    columns = {f'instance="a",signal="s{c}"': np.round(np.sin(2 * np.pi * t / (17 + 5 * c))
                                                       + 0.1 * rng.standard_normal(rows), 6) for c in range(3)}
    return times, columns


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    times, columns = history()
    root = tmp_path_factory.mktemp("prometheus")
    running = PrometheusServer(root, openmetrics("jw_metric", times, columns))
    yield running, times, columns
    running.stop()


def range_options(times: np.ndarray, *extra: str) -> list[str]:
    return ["-o", "query=jw_metric", "-o", f"start={int(times[0])}", "-o", f"end={int(times[-1])}",
            "-o", f"step={STEP}s", *extra]


def trained_bundle(prometheus: PrometheusServer, times: np.ndarray, models) -> str:
    """A tiny bundle trained from the query over the whole history; its path."""
    args = ["train", prometheus.url, *range_options(times), "--out", str(models), "--epochs", "1"]
    for item in TINY_MTS:
        args += ["--set", item]
    trained = runner.invoke(app, args)
    assert trained.exit_code == 0, trained.output
    return str(next(p for p in models.iterdir() if p.is_dir()))


def scored(args: list[str]) -> list[dict]:
    result = runner.invoke(app, ["score", *args])
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]


def test_train_and_score_from_a_query_as_from_the_same_data_in_a_csv(server, tmp_path):
    prometheus, times, columns = server
    bundle = Path(trained_bundle(prometheus, times, tmp_path / "models"))
    assert bundle.name == "127.0.0.1-" + str(prometheus.port)
    config = json.loads((bundle / "config.json").read_text())
    assert config["data"]["source"] == prometheus.url and config["data"]["channels_in"] == 3
    frame = pd.DataFrame({"timestamp": pd.to_datetime(times, unit="s").strftime("%Y-%m-%dT%H:%M:%S")})
    for labels, values in columns.items():  # the channels as the adapter names them
        frame["jw_metric{" + labels + "}"] = values
    csv = tmp_path / "exported.csv"
    frame.to_csv(csv, index=False)

    from_server = scored([prometheus.url, *range_options(times), "--model", str(bundle)])
    from_csv = scored([str(csv), "--model", str(bundle)])
    assert len(from_server) == ROWS // 20 - 1
    assert [r["window_start"] for r in from_server] == [r["window_start"] for r in from_csv]
    assert [r["end_time"] for r in from_server] == [r["end_time"] for r in from_csv]
    np.testing.assert_allclose([r["next_window_risk"] for r in from_server], [r["next_window_risk"] for r in from_csv],
                               atol=1e-6)
    assert [r["regime"] for r in from_server] == [r["regime"] for r in from_csv]


def test_the_python_api_reads_a_server_with_several_named_and_unnamed_queries(server, tmp_path):
    import jepawatch

    prometheus, times, _ = server
    options = {"query": ['jw_metric{signal="s0"}', 'sum(jw_metric)'], "query.spread": "max(jw_metric) - min(jw_metric)",
               "start": int(times[0]), "end": int(times[-1]), "step": f"{STEP}s"}
    monitor = jepawatch.train(prometheus.url, adapter_options=options, settings=dict(s.split("=") for s in TINY_MTS),
                              epochs=1, out=tmp_path / "models")
    assert monitor.bundle.preprocess.channels == ['q1:jw_metric{instance="a",signal="s0"}', "q2", "spread"]


def test_monitor_watch_replays_a_server_range_as_score_reads_it(server, tmp_path):
    import jepawatch

    prometheus, times, _ = server
    monitor = jepawatch.load(trained_bundle(prometheus, times, tmp_path / "models"))
    options = {"query": "jw_metric", "start": int(times[0]), "end": int(times[-1]), "step": f"{STEP}s"}
    watched = list(monitor.watch(prometheus.url, follow=False, adapter_options=options))
    scores = monitor.score(prometheus.url, adapter_options=options)
    assert [np.datetime64(r["end_time"]) for r in watched] == list(scores["end_time"].to_numpy("datetime64[s]"))
    assert len(watched) == ROWS // 20 - 1


def test_refit_reads_recent_rows_from_the_server(server, tmp_path):
    prometheus, times, _ = server
    bundle = trained_bundle(prometheus, times, tmp_path / "models")
    recent = ["-o", "query=jw_metric", "-o", f"start={int(times[-400])}", "-o", f"end={int(times[-1])}",
              "-o", f"step={STEP}s"]
    result = runner.invoke(app, ["refit", prometheus.url, *recent, "--model", bundle, "--force"])
    assert result.exit_code == 0, result.output
    history = json.loads((Path(bundle) / "refits.json").read_text())
    assert history[-1]["source"] == prometheus.url


def test_series_by_a_label_reads_each_value_as_its_own_series(server):
    from jepawatch.adapters import ReadOptions, read_dataset

    prometheus, times, _ = server
    options = ReadOptions(extra={"query": "jw_metric", "start": str(int(times[0])), "end": str(int(times[-1])),
                                 "step": f"{STEP}s", "series_by": "signal"})
    series = read_dataset(prometheus.url, None, options).series
    assert series.channels == ['jw_metric{instance="a"}']
    assert series.n_steps == 3 * ROWS and list(series.series_ids[:3]) == ["s0", "s1", "s2"]


@pytest.mark.parametrize("source, options, message", [
    ("http://", ["-o", "query=up"], "no server named"),
    ("http://user:secret@127.0.0.1:9", ["-o", "query=up"], "not in the URL"),
    ("{unreachable}", ["-o", "query=up"], "cannot reach Prometheus at"),
    ("{url}", ["-o", "query=rate(jw_metric[1m]"], "Prometheus refused query 1"),
    ("{url}", ["-o", "query=no_such_metric"], "gave no series"),
    ("{url}", [], "give the series to read as -o query=PROMQL"),
    ("{url}", ["-o", "query=jw_metric", "-o", "step=fast"], "-o step=fast: give a duration"),
    ("{url}", ["-o", "query=jw_metric", "-o", "spacecraft=MSL"], "has no option 'spacecraft'"),
    ("{url}", ["-o", "query=jw_metric", "-o", "since=1d", "-o", "since=2d"], "since is given 2 times"),
])
def test_bad_sources_are_one_line_errors_and_write_nothing(server, tmp_path, source, options, message):
    prometheus, _, _ = server
    source = source.format(url=prometheus.url, unreachable=f"http://127.0.0.1:{free_port()}")
    result = runner.invoke(app, ["train", source, *options, "--out", str(tmp_path / "models"), "--epochs", "1"])
    text = " ".join(result.output.split())
    assert result.exit_code == 1 and text.startswith("error:") and message in text, result.output
    assert "Traceback" not in result.output and "secret" not in result.output
    assert not list((tmp_path / "models").glob("*/config.json"))


def test_a_port_that_does_not_speak_http_is_a_one_line_error():
    import socket
    import threading

    from jepawatch.adapters import ReadOptions, read_dataset
    from jepawatch.errors import DataError

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)

    def answer_garbage():
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            connection.recv(4096)
            connection.sendall(b"SSH-2.0-not-http\r\n")
            connection.close()

    threading.Thread(target=answer_garbage, daemon=True).start()
    try:
        with pytest.raises(DataError, match="cannot reach Prometheus at"):
            read_dataset(f"http://127.0.0.1:{listener.getsockname()[1]}", None, ReadOptions(extra={"query": "up"}))
    finally:
        listener.close()


def test_once_started_a_followed_step_without_samples_is_a_row_of_missing_cells():
    from jepawatch_adapters.prometheus import grid_order, series_of

    found = {"a": {"": (np.array([0, 1, 4, 5]), np.array([1.0, 1.0, 1.0, 1.0]))}}
    steps, _, _ = grid_order(found, ["a"], range(0, 6), long_format=False, skip_empty=False)
    assert steps.tolist() == [0, 1, 2, 3, 4, 5]  # as a read of the range gives
    series = series_of(found, ["a"], grid_order(found, ["a"], range(2, 4), False, skip_empty=False), 0.0, 1.0, False,
                       "x", [])
    assert series.n_steps == 2 and np.isnan(series.values).all()  # an outage: rows, all missing
    assert len(grid_order(found, ["a"], range(2, 4), False, skip_empty=True)[0]) == 0  # before the first sample: none


def test_a_query_giving_other_channels_than_the_model_is_said(server, tmp_path):
    prometheus, times, _ = server
    bundle = trained_bundle(prometheus, times, tmp_path / "models")
    none = runner.invoke(app, ["score", prometheus.url, "-o", "query=up or vector(1)", "-o", "since=1h",
                               "--model", bundle, "--out", str(tmp_path / "o.jsonl")])
    assert none.exit_code == 1 and "gives none of the model's 3 channels" in " ".join(none.output.split())
    assert not (tmp_path / "o.jsonl").exists()
    some = runner.invoke(app, ["score", prometheus.url, "-o", 'query=jw_metric{signal!="s2"}',
                               "-o", f"start={int(times[0])}", "-o", f"end={int(times[-1])}", "--model", bundle])
    assert some.exit_code == 0 and "1 of the model's channels have no samples" in " ".join(some.output.split())


def test_a_server_that_asks_for_a_login_is_read_with_the_credentials_from_the_environment(tmp_path, monkeypatch):
    times, columns = history(rows=200)
    server = PrometheusServer(tmp_path / "p", openmetrics("jw_metric", times, columns), basic_auth=(USER, PASSWORD_HASH))
    try:
        monkeypatch.delenv("JEPAWATCH_PROMETHEUS_USER", raising=False)
        refused = runner.invoke(app, ["train", server.url, *range_options(times), "--out", str(tmp_path / "m")])
        assert refused.exit_code == 1 and "refused the login (HTTP 401)" in " ".join(refused.output.split())
        from jepawatch.adapters import ReadOptions, read_dataset

        monkeypatch.setenv("JEPAWATCH_PROMETHEUS_USER", USER)
        monkeypatch.setenv("JEPAWATCH_PROMETHEUS_PASSWORD", PASSWORD)
        options = ReadOptions(extra={"query": "jw_metric", "start": str(int(times[0])), "end": str(int(times[-1]))})
        assert read_dataset(server.url, None, options).series.n_steps == 200
    finally:
        server.stop()


def test_an_https_server_is_read_with_its_certificate_and_refused_without(tmp_path):
    from jepawatch.adapters import ReadOptions, read_dataset
    from jepawatch.errors import DataError

    tls = self_signed_certificate(tmp_path)
    if tls is None:
        pytest.skip("needs openssl to make a certificate")
    times, columns = history(rows=100)
    server = PrometheusServer(tmp_path / "p", openmetrics("jw_metric", times, columns), tls=tls)
    try:
        extra = {"query": "jw_metric", "start": str(int(times[0])), "end": str(int(times[-1]))}
        with pytest.raises(DataError, match="cannot reach Prometheus at https.*CERTIFICATE_VERIFY_FAILED"):
            read_dataset(server.url, None, ReadOptions(extra=extra))  # a self-signed certificate is not trusted
        assert read_dataset(server.url, None, ReadOptions(extra={**extra, "ca_file": str(tls[0])})).series.n_steps == 100
        assert read_dataset(server.url, None, ReadOptions(extra={**extra, "insecure": "true"})).series.n_steps == 100
        with pytest.raises(DataError, match="TLS options are for an https:// server"):
            read_dataset(server.url.replace("https", "http"), None, ReadOptions(extra={**extra, "insecure": "true"}))
    finally:
        server.stop()


# --- watch follows live scrapes -----------------------------------------------------------------

LIVE_STEP = 1.0  # seconds: the row spacing (scraped every 0.5 s); whole seconds, as the rows show times
LIVE_WINDOW = ["--set", "model.window=4", "--set", "model.n_patches=2"]  # a window every 4 s


def signal_value(t: float, c: int) -> float:
    return round(float(np.sin(2 * np.pi * t / (8.5 + 2.5 * c))), 6)


class Exporter:
    """A prometheus-client exporter on localhost whose gauges follow sines of the time, updated
    every 0.1 s by a thread: what node-exporter is to a machine."""

    def __init__(self):
        import threading

        from prometheus_client import CollectorRegistry, Gauge, start_http_server

        self.registry = CollectorRegistry()
        self.gauge = Gauge("jw_live", "a test signal", ["signal"], registry=self.registry)
        self.port = free_port()
        self.server, self.thread = start_http_server(self.port, addr="127.0.0.1", registry=self.registry)
        self.running = True
        self.updater = threading.Thread(target=self._update, daemon=True)
        self._update_once()
        self.updater.start()

    def _update_once(self):
        now = time.time()
        for c in range(3):
            self.gauge.labels(f"s{c}").set(signal_value(now, c))

    def _update(self):
        while self.running:
            self._update_once()
            time.sleep(0.1)

    def stop(self):
        self.running = False
        self.server.shutdown()


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    exporter = Exporter()
    end = np.floor(time.time() / LIVE_STEP) * LIVE_STEP - 600
    times = np.arange(end - 799 * LIVE_STEP, end + LIVE_STEP / 2, LIVE_STEP)
    labels = f'instance="127.0.0.1:{exporter.port}",job="test"'
    columns = {f'{labels},signal="s{c}"': np.asarray([signal_value(t, c) for t in times]) for c in range(3)}
    root = tmp_path_factory.mktemp("live")
    server = PrometheusServer(root, openmetrics("jw_live", times, columns), scrape=[f"127.0.0.1:{exporter.port}"],
                              scrape_interval="500ms")
    models = root / "models"
    args = ["train", server.url, "-o", "query=jw_live", "-o", f"start={times[0]:.3f}", "-o", f"end={times[-1]:.3f}",
            "-o", f"step={LIVE_STEP}s", "--out", str(models), "--epochs", "1", "--name", "live"]
    for item in TINY_MTS:
        args += ["--set", item]
    trained = runner.invoke(app, args + LIVE_WINDOW)
    assert trained.exit_code == 0, trained.output
    scraping_since = time.time()
    yield server, models / "live", scraping_since
    server.stop()
    exporter.stop()


def test_watch_follows_live_scrapes_and_a_killed_watch_resumes_without_losing_or_repeating(live, tmp_path):
    import signal

    from test_watch import Watch

    server, bundle, _ = live
    state = tmp_path / "watch.state"
    options = ("-o", "query=jw_live", "-o", f"step={LIVE_STEP}s", "-o", "since=12s", "--state", str(state))
    first = Watch(bundle, server.url, *options)
    first.wait_for(lambda: len(first.rows) >= 3, timeout=60, what="3 windows")
    time.sleep(0.3)
    first.process.kill()  # kill -9
    first.finish()
    time.sleep(3)  # windows come while nothing watches
    second = Watch(bundle, server.url, *options)
    second.wait_for(lambda: len(second.rows) >= 2, timeout=60, what="2 more windows")
    second.process.send_signal(signal.SIGINT)
    assert second.finish() == 0, "".join(second.err)
    seen = first.rows + second.rows
    ends = [np.datetime64(r["end_time"]) for r in seen]
    assert [r["window_start"] for r in seen] == [seen[0]["window_start"] + 4 * k for k in range(len(seen))]
    assert all(b - a == np.timedelta64(4, "s") for a, b in zip(ends, ends[1:])), ends  # none lost, none twice
    # the same windows as scoring the same range afterwards in one read
    first_row = np.datetime64(seen[0]["start_time"]) - np.timedelta64(4, "s")  # the first window's predecessor
    start = (first_row - np.datetime64("1970-01-01T00:00:00")) / np.timedelta64(1, "s")
    end = (ends[-1] - np.datetime64("1970-01-01T00:00:00")) / np.timedelta64(1, "s")
    again = scored([server.url, "-o", "query=jw_live", "-o", f"step={LIVE_STEP}s", "-o", f"start={start:.3f}",
                    "-o", f"end={end:.3f}", "--model", str(bundle)])
    assert [r["end_time"] for r in again] == [r["end_time"] for r in seen]
    np.testing.assert_allclose([r["next_window_risk"] for r in again], [r["next_window_risk"] for r in seen], atol=1e-6)


def test_score_with_a_state_from_cron_scores_each_window_of_a_live_server_once(live, tmp_path):
    server, bundle, scraping_since = live
    time.sleep(max(0.0, scraping_since + 18 - time.time()))  # 16 s of scrapes to start from
    state, out = tmp_path / "score.state", tmp_path / "scores.jsonl"
    args = ["score", server.url, "-o", "query=jw_live", "-o", f"step={LIVE_STEP}s", "-o", "since=16s",
            "--model", str(bundle), "--state", str(state), "--out", str(out)]
    runs = []
    for _ in range(3):  # cron, every few seconds
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        runs.append(len(out.read_text().splitlines()))
        time.sleep(4.5)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert runs[0] >= 2 and runs[2] > runs[1] > runs[0], runs  # each run adds the windows that came since
    ends = [np.datetime64(r["end_time"]) for r in rows]
    assert all(b - a == np.timedelta64(4, "s") for a, b in zip(ends, ends[1:])), ends  # none lost, none twice
    refused = runner.invoke(app, ["score", str(tmp_path / "x.csv"), "--model", str(bundle), "--state", str(state)])
    assert refused.exit_code == 1
