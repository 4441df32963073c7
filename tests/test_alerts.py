"""Alerts: hysteresis, events carried over runs, webhook delivery (local receiver), Prometheus metrics."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from jepawatch.alerts.alertmanager import webhook_body
from jepawatch.alerts.metrics import RiskMetrics
from jepawatch.alerts.pipeline import AlertSettings, Alerting
from jepawatch.alerts.tracker import AlertPolicy, AlertTracker
from jepawatch.alerts.webhook import WebhookDelivery, parse_headers
from jepawatch.errors import ConfigError


def rows_of(risks, alert_at=0.9):
    return [{"window_start": 10 * i, "window_end": 10 * i + 9, "end_time": f"2026-01-01T00:{i // 60:02d}:{i % 60:02d}",
             "next_window_risk": r, "alert": r >= alert_at, "regime": f"{i % 4} 1", "coarse_regime": i % 3,
             "drivers": "cpu, mem"} for i, r in enumerate(risks)]


# a long noisy stretch: risk flickers around the alert level for 40 windows, inside normal operation
NOISY = [0.2] * 10 + [0.95, 0.97, 0.5, 0.96, 0.99, 0.6, 0.95] * 6 + [0.3] * 10


def events_of(tracker, rows):
    return [e for row in rows for e in tracker.update(row)]


def test_a_long_noisy_stretch_opens_one_alert_and_resolves_it_once():
    events = events_of(AlertTracker("web-1", "demo", AlertPolicy(for_windows=2, clear_windows=3)), rows_of(NOISY))
    assert [e.status for e in events] == ["firing", "resolved"]
    firing, resolved = events
    assert firing.fingerprint == resolved.fingerprint
    assert resolved.peak_risk == 0.99 and resolved.ends_at > firing.starts_at
    # without hysteresis (and without the storm bound) the same stretch pages on every flicker
    flapping = events_of(AlertTracker("web-1", "demo", AlertPolicy(max_alerts=0)), rows_of(NOISY))
    assert sum(e.status == "firing" for e in flapping) > 10
    # the default storm bound holds it at 10 within 100 windows, the rest held back (counted, said)
    bounded = events_of(AlertTracker("web-1", "demo"), rows_of(NOISY))
    assert sum(e.status == "firing" for e in bounded) == 10 and any(e.status == "held" for e in bounded)


def test_an_alert_needs_its_for_windows_and_a_single_blip_opens_nothing():
    tracker = AlertTracker("s", "m", AlertPolicy(for_windows=3, clear_windows=1))
    rows = rows_of([0.1, 0.95, 0.95, 0.1, 0.95, 0.1] + [0.95, 0.96, 0.97, 0.1])
    assert events_of(tracker, rows[:6]) == []
    events = events_of(tracker, rows[6:])
    assert [e.status for e in events] == ["firing", "resolved"]
    assert events[0].starts_at == "2026-01-01T00:00:06Z"  # the first window of the alerting run


@pytest.mark.parametrize("cut", [3, 11, 12, 13, 30, 50])
def test_the_state_carries_an_open_alert_across_runs(cut):
    rows = rows_of(NOISY)
    policy = AlertPolicy(2, 3)
    whole = events_of(AlertTracker("s", "m", policy), rows)
    first = AlertTracker("s", "m", policy)
    before = events_of(first, rows[:cut])
    saved = json.loads(json.dumps(first.to_dict()))  # as the state file holds it
    after = events_of(AlertTracker.from_dict(saved, policy), rows[cut:])
    assert [e.to_dict() for e in before + after] == [e.to_dict() for e in whole]


def test_bad_policies_and_headers_are_one_line_errors():
    with pytest.raises(ConfigError, match="--for 0"):
        AlertPolicy(for_windows=0)
    with pytest.raises(ConfigError, match="--clear 0"):
        AlertPolicy(clear_windows=0)
    assert parse_headers(["Authorization: Bearer s3cret", "X-Team:ops"]) == {"Authorization": "Bearer s3cret", "X-Team": "ops"}
    with pytest.raises(ConfigError) as caught:
        parse_headers(["Bearer s3cret"])
    assert "s3cret" not in str(caught.value)


# --- webhook delivery against a receiver on 127.0.0.1 -------------------------------------------

class Receiver:
    """A local HTTP receiver: answers `fail_first` requests with 500 (or `status`), then 200; records bodies."""

    def __init__(self, fail_first=0, status=500, hang=0.0):
        self.bodies, self.headers, self.requests = [], [], 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests += 1
                if hang:
                    time.sleep(hang)
                if receiver.requests <= fail_first:
                    self.send_response(status)
                    self.end_headers()
                    return
                receiver.bodies.append(json.loads(body))
                receiver.headers.append(dict(self.headers))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/alerts"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def wait_for(condition, seconds=10.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not condition():
        time.sleep(0.02)
    return condition()


def noisy_events():
    rows = rows_of([0.95, 0.1] * 5)  # 5 alerts, each opened and resolved: 10 events
    return events_of(AlertTracker("web-1", "demo"), rows)


def test_events_arrive_in_order_with_the_header_in_alertmanagers_shape(tmp_path):
    receiver = Receiver()
    try:
        delivery = WebhookDelivery(receiver.url, tmp_path / "spool.jsonl", {"Authorization": "Bearer s3cret"},
                                   timeout=2, backoff=0.01)
        events = noisy_events()
        for event in events:
            delivery.submit(webhook_body(event))
        assert delivery.close(wait_seconds=10) == 0
        assert [b["status"] for b in receiver.bodies] == [e.status for e in events]
        assert [b["alerts"][0]["annotations"]["window"] for b in receiver.bodies] == \
               [f"{e.window_start}-{e.window_end}" for e in events]
        body = receiver.bodies[0]
        assert body["version"] == "4" and body["alerts"][0]["labels"]["alertname"] == "JepawatchNextWindowRisk"
        assert body["alerts"][0]["endsAt"] == "0001-01-01T00:00:00Z" and receiver.bodies[1]["alerts"][0]["endsAt"] != body["alerts"][0]["endsAt"]
        assert all(h["Authorization"] == "Bearer s3cret" for h in receiver.headers)
        assert (tmp_path / "spool.jsonl").read_text() == ""
    finally:
        receiver.stop()


def test_a_receiver_that_fails_twice_then_succeeds_gets_each_event_exactly_once(tmp_path):
    receiver = Receiver(fail_first=2)
    try:
        delivery = WebhookDelivery(receiver.url, tmp_path / "spool.jsonl", timeout=2, backoff=0.01)
        events = noisy_events()
        for event in events:
            delivery.submit(webhook_body(event))
        assert delivery.close(wait_seconds=10) == 0
        assert receiver.requests == len(events) + 2
        assert [b["alerts"][0]["annotations"]["window"] for b in receiver.bodies] == \
               [f"{e.window_start}-{e.window_end}" for e in events]
    finally:
        receiver.stop()


def test_a_dead_receiver_does_not_hold_up_scoring_and_its_events_wait_in_the_spool(tmp_path):
    hanging = Receiver(hang=3.0, fail_first=10**6)
    warnings = []
    try:
        delivery = WebhookDelivery(hanging.url, tmp_path / "spool.jsonl", {"Authorization": "Bearer s3cret"},
                                   timeout=1, retries=1, backoff=0.01, warn=warnings.append)
        events = noisy_events()
        started = time.monotonic()
        for event in events:
            delivery.submit(webhook_body(event))
        submitting = time.monotonic() - started
        assert submitting < 1.0  # the receiver takes 3 s a request; scoring does not wait for it
        assert delivery.close(wait_seconds=0.5) == len(events)
    finally:
        hanging.stop()
    assert warnings and not any("s3cret" in w for w in warnings)
    # the next run, with the receiver back, sends the spooled events first, in order, then its own
    receiver = Receiver()
    try:
        later = WebhookDelivery(receiver.url, tmp_path / "spool.jsonl", timeout=2, backoff=0.01)
        extra = events_of(AlertTracker("web-2", "demo"), rows_of([0.95]))
        later.submit(webhook_body(extra[0]))
        assert later.close(wait_seconds=10) == 0
        assert [(b["alerts"][0]["labels"]["series"], b["status"]) for b in receiver.bodies] == \
               [("web-1", e.status) for e in events] + [("web-2", "firing")]
    finally:
        receiver.stop()


def test_a_refused_event_is_set_aside_and_the_rest_still_go(tmp_path):
    receiver = Receiver(fail_first=1, status=400)
    warnings = []
    try:
        delivery = WebhookDelivery(receiver.url, tmp_path / "spool.jsonl", timeout=2, backoff=0.01, warn=warnings.append)
        events = noisy_events()[:3]
        for event in events:
            delivery.submit(webhook_body(event))
        assert delivery.close(wait_seconds=10) == 0
        assert len(receiver.bodies) == 2
        assert len((tmp_path / "spool.jsonl.rejected.jsonl").read_text().splitlines()) == 1
        assert any("HTTP 400" in w for w in warnings)
    finally:
        receiver.stop()


def test_a_receiver_that_comes_back_gets_the_waiting_events_in_the_same_run(tmp_path):
    receiver = Receiver(fail_first=4)  # the first event fails its try and 3 retries, then the receiver is back
    try:
        delivery = WebhookDelivery(receiver.url, tmp_path / "spool.jsonl", timeout=2, retries=3, backoff=0.01,
                                   pause=(0.05, 0.2))
        events = noisy_events()[:4]
        for event in events:
            delivery.submit(webhook_body(event))
        assert wait_for(lambda: len(receiver.bodies) == len(events))
        assert delivery.close(wait_seconds=5) == 0
        assert [b["alerts"][0]["annotations"]["window"] for b in receiver.bodies] == \
               [f"{e.window_start}-{e.window_end}" for e in events]
    finally:
        receiver.stop()


def test_a_redirect_is_not_followed_and_the_event_stays_spooled(tmp_path):
    receiver = Receiver(fail_first=10**6, status=302)
    try:
        delivery = WebhookDelivery(receiver.url, tmp_path / "spool.jsonl", {"Authorization": "Bearer s3cret"},
                                   timeout=2, retries=0, backoff=0.01)
        delivery.submit(webhook_body(noisy_events()[0]))
        assert delivery.close(wait_seconds=3) == 1 and receiver.bodies == []
    finally:
        receiver.stop()


def test_blank_lines_and_a_cut_line_in_the_spool_do_not_stop_delivery(tmp_path):
    events = noisy_events()[:2]
    spool = tmp_path / "spool.jsonl"
    spool.write_text("\r\n" + json.dumps(webhook_body(events[0])) + "\r\n\n" + '{"cut sho')  # no newline: a kill
    receiver = Receiver()
    try:
        delivery = WebhookDelivery(receiver.url, spool, timeout=2, backoff=0.01)
        delivery.submit(webhook_body(events[1]))
        assert delivery.close(wait_seconds=5) == 0
        assert receiver.requests == 2 and [b["status"] for b in receiver.bodies] == [e.status for e in events]
        assert len((tmp_path / "spool.jsonl.rejected.jsonl").read_text().splitlines()) == 1  # the cut line
    finally:
        receiver.stop()


def test_windows_seen_again_after_a_crash_do_not_count_twice():
    policy = AlertPolicy(for_windows=3, clear_windows=1)
    tracker = AlertTracker("s", "m", policy)
    rows = rows_of([0.95, 0.95, 0.1, 0.95])
    assert events_of(tracker, rows[:2]) == []
    assert events_of(tracker, rows[:2]) == []  # a rerun of the same two windows: not four alerting windows
    assert tracker.alerting_run == 2


# --- Prometheus -----------------------------------------------------------------------------

def test_the_textfile_parses_and_the_window_count_carries_over(tmp_path):
    from prometheus_client.parser import text_string_to_metric_families

    path = tmp_path / "jepawatch.prom"
    settings = AlertSettings(for_windows=2, clear_windows=3, prom_textfile=path)
    first = Alerting(settings, "web-1", "demo")
    first.observe(rows_of(NOISY[:20]))
    first.close()
    second = Alerting(settings, "web-1", "demo", saved=json.loads(json.dumps(first.state())))
    second.observe(rows_of(NOISY)[20:25])
    second.close()
    samples = {s.name: s for family in text_string_to_metric_families(path.read_text()) for s in family.samples}
    assert samples["jepawatch_windows_total"].value == 25
    assert samples["jepawatch_next_window_risk"].value == NOISY[24]
    assert samples["jepawatch_next_window_risk"].labels == {"series": "web-1", "model": "demo"}
    assert samples["jepawatch_alert"].value == 1.0  # the stretch is still alerting at window 24
    assert samples["jepawatch_last_window_timestamp_seconds"].value == pytest.approx(1767225600 + 24)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_metrics_are_served_on_localhost(tmp_path):
    metrics = RiskMetrics()
    metrics.observe("web-1", "demo", rows_of([0.42])[0], alert_open=False)
    server, thread = metrics.serve(0)
    try:
        host, port = server.server_address[:2]
        assert host == "127.0.0.1"
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
        assert 'jepawatch_next_window_risk{model="demo",series="web-1"} 0.42' in text
    finally:
        server.shutdown()
        server.server_close()


# --- wired into score and watch ------------------------------------------------------------------

@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    """A tiny bundle and a labelled file to score (the labels are just another column for score)."""
    from conftest import train_tiny, write_labelled_split

    root = tmp_path_factory.mktemp("alerting")
    write_labelled_split(root, scored_name="live.csv")
    return root, train_tiny(root, epochs=1)


def cli(*args):
    from typer.testing import CliRunner
    from jepawatch.cli.app import app

    return CliRunner().invoke(app, [str(a) for a in args])


def expected_events(rows, policy):
    tracker = AlertTracker("live", "train", policy)
    return [(e.status, e.window_start) for row in rows for e in tracker.update(row)]


def received(receiver):
    return [(b["status"], int(b["alerts"][0]["annotations"]["window"].split("-")[0])) for b in receiver.bodies]


def test_cron_runs_of_score_page_once_per_alert_and_resolve_it_across_runs(scored, tmp_path):
    root, bundle = scored
    live = root / "live.csv"
    lines = live.read_text().splitlines(keepends=True)
    growing = tmp_path / "live.csv"
    receiver = Receiver()
    try:
        common = ["--model", bundle, "--state", tmp_path / "state.json", "--out", tmp_path / "rows.jsonl",
                  "--alert-at", "0.6", "--for", "2", "--clear", "2", "--webhook", receiver.url,
                  "--prom-textfile", tmp_path / "jepawatch.prom"]
        for cut in (len(lines) // 3, 2 * len(lines) // 3, len(lines)):  # the file grows between cron runs
            growing.write_text("".join(lines[:cut]))
            result = cli("score", growing, *common)
            assert result.exit_code == 0, result.output
        rows = [json.loads(line) for line in (tmp_path / "rows.jsonl").read_text().splitlines()]
        want = expected_events(rows, AlertPolicy(2, 2))
        assert want and any(s == "resolved" for s, _ in want)
        assert sum(r["alert"] for r in rows) > sum(s == "firing" for s, _ in want)  # hysteresis at work
        assert wait_for(lambda: len(receiver.bodies) == len(want))
        assert received(receiver) == want  # in order, exactly once, an open alert carried across runs
        assert not (tmp_path / "state.json.webhook-spool.jsonl").read_text()
    finally:
        receiver.stop()
    from prometheus_client.parser import text_string_to_metric_families

    samples = {s.name: s.value for f in text_string_to_metric_families((tmp_path / "jepawatch.prom").read_text())
               for s in f.samples}
    assert samples["jepawatch_windows_total"] == len(rows)
    assert samples["jepawatch_next_window_risk"] == rows[-1]["next_window_risk"]
    assert samples["jepawatch_one_in"] == rows[-1]["one_in"] >= 1.0  # how far out, beside the risk


def test_watch_posts_its_events_and_prints_them(scored, tmp_path):
    root, bundle = scored
    receiver = Receiver()
    try:
        result = cli("watch", root / "live.csv", "--model", bundle, "--replay", "--jsonl", "--alert-at", "0.6",
                     "--for", "2", "--clear", "2", "--webhook", receiver.url, "--webhook-header", "Authorization: Bearer s3cret")
        assert result.exit_code == 0, result.output
        rows = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
        want = expected_events(rows, AlertPolicy(2, 2))
        assert wait_for(lambda: len(receiver.bodies) == len(want)) and received(receiver) == want
        assert "alert firing: live" in result.output and "s3cret" not in result.output
    finally:
        receiver.stop()


@pytest.mark.parametrize("args, fragment", [
    (["--for", "0"], "--for 0"),
    (["--webhook", "ftp://example.org/x"], "not an http:// or https:// URL"),
    (["--webhook", "http://127.0.0.1:9/x", "--webhook-header", "Bearer s3cret"], "not of the form 'Name: value'"),
])
def test_bad_alert_options_are_one_line_errors_that_show_no_secret(scored, tmp_path, args, fragment):
    root, bundle = scored
    result = cli("score", root / "live.csv", "--model", bundle, *args)
    text = " ".join(result.output.split())
    assert result.exit_code == 1 and text.startswith("error:") and fragment in text and "s3cret" not in text, result.output
