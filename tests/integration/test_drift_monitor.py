"""The drift sidecar against a real tritonserver: windows, restarts, staleness, webhook, its own endpoint."""

import json
import math
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ticket_classifier.build.layout import step_folders
from ticket_classifier.build.repository import build_repository
from ticket_classifier.clients.client import TicketClassifierClient
from ticket_classifier.monitoring.drift_monitor import DriftMonitor
from ticket_classifier.monitoring.settings import DriftMonitorConfig
from ticket_classifier.runtime.contract import DRIFT_REFERENCE_FILENAME, POSTPROCESS
from ticket_classifier.server import ServerConfig, TritonServer, free_port
from ticket_classifier.training.demo_data import generate_tickets

pytestmark = [pytest.mark.integration, pytest.mark.parametrize("tiny_model", ["bert"], indirect=True)]


def tickets(count, seed, drifted=False):
    return [(t.subject, t.description) for t in generate_tickets(count, seed=seed, drifted=drifted)]


def value(monitor, name, **labels):
    return monitor.registry.get_sample_value(name, labels)


@pytest.fixture
def served(tiny_model, tmp_path):
    repository = tmp_path / "repository"
    build_repository(tiny_model.checkpoint, tiny_model.onnx.parent, repository)
    config = ServerConfig.on_free_ports()
    server = TritonServer(repository, config)
    server.start()
    yield server, repository
    server.stop()


def monitor_for(server, repository, **options):
    config = DriftMonitorConfig(
        triton_url=server.http_url,
        triton_metrics_url=server.metrics_url,
        model_repository=str(repository),
        min_predictions=20,
        count_window=50,
        time_window_s=600,
        **options,
    )
    return DriftMonitor(config)


def test_reference_of_the_active_version_and_psi_after_traffic(served):
    server, repository = served
    monitor = monitor_for(server, repository)
    monitor.step()
    assert monitor.model_version.startswith("1-fp32-")
    assert value(monitor, "ticket_classifier_model_ready") == 1
    assert value(monitor, "ticket_classifier_drift_status", signal="category", window="count") == -1  # no traffic yet
    with TicketClassifierClient(server.grpc_url) as client:
        client.classify_batch(tickets(60, seed=3))
    psi = monitor.step()
    assert value(monitor, "ticket_classifier_drift_window_predictions", window="time") == 60
    assert value(monitor, "ticket_classifier_drift_window_predictions", window="count") >= 50
    assert set(psi) == {(s, w) for s in ("category", "confidence", "unknown_category") for w in ("time", "count")}
    assert all(value >= 0 for value in psi.values())


def test_triton_restart_is_a_counter_reset_not_a_drop(served):
    server, repository = served
    monitor = monitor_for(server, repository)
    with TicketClassifierClient(server.grpc_url) as client:
        client.classify_batch(tickets(30, seed=3))
    monitor.step()
    server.stop()
    monitor.step()  # Triton down: reported, not raised
    assert value(monitor, "ticket_classifier_drift_scrape_errors_total") == 1
    assert value(monitor, "ticket_classifier_model_ready") == 0
    server.start()
    with TicketClassifierClient(server.grpc_url) as client:
        client.classify_batch(tickets(10, seed=4))
    monitor.step()
    assert value(monitor, "ticket_classifier_drift_triton_restarts_total") == 1
    assert monitor.history.snapshots[-1].total == 40


def test_unreachable_triton_reports_staleness(tmp_path, tiny_model):
    port = free_port()
    config = DriftMonitorConfig(
        triton_url=f"127.0.0.1:{port}",
        triton_metrics_url=f"http://127.0.0.1:{port}/metrics",
        model_repository=None,
        reference=str(tiny_model.checkpoint / "drift_reference.json"),
    )
    monitor = DriftMonitor(config)
    monitor.step(now=monitor.started + 5)
    monitor.step(now=monitor.started + 65)
    assert value(monitor, "ticket_classifier_drift_scrape_errors_total") == 2
    assert value(monitor, "ticket_classifier_drift_last_scrape_age_seconds") == pytest.approx(65)


@pytest.mark.reliability
def test_while_triton_is_down_drift_becomes_unknown_not_stuck_on_its_last_value(served):
    server, repository = served
    monitor = monitor_for(server, repository, stale_after_s=30)
    now = time.time()
    monitor.step(now=now - 1)  # the baseline scrape
    with TicketClassifierClient(server.grpc_url) as client:
        client.classify_batch(tickets(60, seed=3))
    monitor.step(now=now)
    assert value(monitor, "ticket_classifier_drift_status", signal="category", window="count") in (0, 1, 2)
    server.stop()
    monitor.step(now=now + 10)  # a short outage: the last values stand
    assert value(monitor, "ticket_classifier_drift_stale") == 0
    monitor.step(now=now + 45)
    assert value(monitor, "ticket_classifier_drift_stale") == 1
    for signal_name in ("category", "confidence"):
        for window in ("time", "count"):
            labels = {"signal": signal_name, "window": window}
            assert value(monitor, "ticket_classifier_drift_status", **labels) == -1
            assert math.isnan(value(monitor, "ticket_classifier_drift_psi", **labels))
    server.start()
    monitor.step(now=now + 50)
    assert value(monitor, "ticket_classifier_drift_stale") == 0
    assert value(monitor, "ticket_classifier_drift_status", signal="category", window="count") in (0, 1, 2)


class WebhookReceiver(BaseHTTPRequestHandler):
    """Collects POSTed JSON messages; ``delay_s`` makes it slow, ``status`` makes it fail."""

    messages: list = []
    delay_s = 0.0
    status = 204

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        time.sleep(self.delay_s)
        if self.status < 300:
            self.messages.append(body)
        self.send_response(self.status)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    """A webhook receiver on loopback, reset for each test."""
    WebhookReceiver.messages, WebhookReceiver.delay_s, WebhookReceiver.status = [], 0.0, 204
    server = ThreadingHTTPServer(("127.0.0.1", 0), WebhookReceiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/hooks/secret-token-123"
    server.shutdown()


def test_webhook_hears_status_changes(served, receiver):
    server, repository = served
    monitor = monitor_for(server, repository, webhook_url=receiver)
    monitor.step()
    with TicketClassifierClient(server.grpc_url) as client:
        client.classify_batch(tickets(60, seed=3))
    monitor.step()
    assert monitor.webhook.drain(10)
    assert WebhookReceiver.messages, "the status left -1 (not enough data), so a message was due"
    message = WebhookReceiver.messages[0]
    assert message["previous_status"] == -1 and message["model_version"].startswith("1-fp32-")
    assert value(monitor, "ticket_classifier_drift_webhook_deliveries_total") == len(WebhookReceiver.messages)


@pytest.mark.reliability
def test_a_slow_webhook_never_holds_up_a_scrape(served, receiver):
    server, repository = served
    WebhookReceiver.delay_s = 3.0
    monitor = monitor_for(server, repository, webhook_url=receiver, webhook_timeout_s=10)
    monitor.step()
    with TicketClassifierClient(server.grpc_url) as client:
        client.classify_batch(tickets(60, seed=3))
    started = time.monotonic()
    monitor.step()  # six statuses change (three signals, two windows): six messages of 3 s each are due
    monitor.step()
    assert time.monotonic() - started < 2.0
    assert value(monitor, "ticket_classifier_drift_last_scrape_age_seconds") < 2.0
    assert monitor.webhook.drain(40) and len(WebhookReceiver.messages) == 6


@pytest.mark.reliability
def test_a_failing_webhook_is_retried_then_counted_and_its_url_never_logged(served, receiver, caplog):
    server, repository = served
    WebhookReceiver.status = 500
    monitor = monitor_for(server, repository, webhook_url=receiver, webhook_attempts=3, webhook_backoff_s=0.05)
    monitor.step()
    with TicketClassifierClient(server.grpc_url) as client:
        client.classify_batch(tickets(60, seed=3))
    monitor.step()
    assert monitor.webhook.drain(30)
    sent = value(monitor, "ticket_classifier_drift_webhook_failures_total")
    assert sent == 6 and value(monitor, "ticket_classifier_drift_webhook_deliveries_total") == 0
    attempts = [record for record in caplog.records if "attempt" in record.getMessage()]
    assert len(attempts) == 18
    assert "secret-token-123" not in caplog.text and "http://127.0.0.1:" in caplog.text


@pytest.mark.reliability
def test_a_full_webhook_queue_drops_the_oldest_and_counts_it(tiny_model, receiver):
    config = DriftMonitorConfig(
        model_repository=None,
        reference=str(tiny_model.checkpoint / "drift_reference.json"),
        webhook_url=receiver,
        webhook_queue_size=2,
    )
    WebhookReceiver.delay_s = 1.0
    monitor = DriftMonitor(config)
    for index in range(6):
        monitor.webhook.send({"message": index})
    assert monitor.webhook.drain(30)
    dropped = value(monitor, "ticket_classifier_drift_webhook_dropped_total")
    assert dropped >= 3 and len(WebhookReceiver.messages) == 6 - dropped
    assert WebhookReceiver.messages[-1] == {"message": 5}


@pytest.mark.parametrize("url", ["notaurl-secret", "ftp://example.com/secret", "http://", "https:///secret"])
def test_a_bad_webhook_url_is_refused_at_start_without_echoing_it(tiny_model, url, monkeypatch, capsys):
    from ticket_classifier.cli import main

    with pytest.raises(ValueError, match="must be an http:// or https:// URL"):
        DriftMonitorConfig(webhook_url=url)
    monkeypatch.setenv("TICKET_CLASSIFIER_WEBHOOK_URL", url)
    code = main(["drift-monitor", "--port", str(free_port())])
    error = capsys.readouterr().err
    assert code == 1 and "must be an http:// or https:// URL" in error and "secret" not in error


def test_drift_monitor_command_serves_its_metrics_and_stops_cleanly(served):
    server, repository = served
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ticket_classifier.cli",
            "drift-monitor",
            "--port",
            str(port),
            "--triton-url",
            server.http_url,
            "--triton-metrics-url",
            server.metrics_url,
            "--model-repository",
            str(repository),
            "--scrape-interval",
            "0.5",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        first_lines = [process.stdout.readline() for _ in range(4)]
        assert any("drift monitor on 127.0.0.1:" in line for line in first_lines), first_lines
        deadline = time.monotonic() + 30
        text = ""
        while "ticket_classifier_model_ready 1.0" not in text and time.monotonic() < deadline:
            time.sleep(0.5)
            try:
                text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
            except OSError:
                continue
        assert "ticket_classifier_drift_psi" in text and "ticket_classifier_model_ready 1.0" in text
        health = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5).read())
        assert health["status"] == "ok"
        for path in ("/", "/metrics/", "/anything"):
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5)
            assert refused.value.code == 404
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()


def test_drift_monitor_without_reference_is_a_clear_error(tiny_model, tmp_path, capsys):
    from ticket_classifier.cli import main

    empty = tmp_path / "empty_repository"
    empty.mkdir()
    code = main(["drift-monitor", "--model-repository", str(empty), "--port", str(free_port())])
    assert code == 1 and "no active model version" in capsys.readouterr().err


def test_psi_plot_script_writes_the_plot_and_data(tiny_model, tmp_path, capsys):
    from ticket_classifier.commands.psi_plot import main

    output = tmp_path / "psi.png"
    code = main(
        [
            "--model-repository",
            str(tiny_model.repository),
            "--output",
            str(output),
            "--tickets",
            "80",
            "--batch",
            "40",
            "--count-window",
            "40",
        ]
    )
    assert code == 0 and output.stat().st_size > 1000
    series = json.loads(output.with_suffix(".json").read_text())
    assert set(series) == {"in-distribution", "drifted"} and len(series["drifted"]) == 2
    assert "plot written" in capsys.readouterr().out


def bucket(text, bound):
    """The confidence histogram's cumulative count at ``bound`` on a metrics page (``le`` read as a number)."""
    pattern = r'ticket_classifier_confidence_bucket\{[^}]*le="([^"]+)"[^}]*\} (\S+)'
    return sum(float(value) for le, value in re.findall(pattern, text) if abs(float(le) - bound) < 1e-9)


def by_hand_psi(reference_shares, counts, epsilon):
    """PSI written out independently of monitoring/psi.py: floor both sides at epsilon, renormalise, sum."""
    total = sum(counts)
    observed = [max(count / total, epsilon) for count in counts]
    expected = [max(share, epsilon) for share in reference_shares]
    observed = [value / sum(observed) for value in observed]
    expected = [value / sum(expected) for value in expected]
    return sum((a - e) * math.log(a / e) for a, e in zip(observed, expected))


def test_the_sidecar_s_psi_equals_one_computed_from_the_reference_and_triton_s_own_counters(served, metric_total):
    server, repository = served
    monitor = monitor_for(server, repository)
    before = urllib.request.urlopen(server.metrics_url, timeout=10).read().decode()
    monitor.step()
    with TicketClassifierClient(server.grpc_url) as client:
        client.classify_batch(tickets(40, seed=3) + tickets(40, seed=9, drifted=True))
    after = urllib.request.urlopen(server.metrics_url, timeout=10).read().decode()
    psi = monitor.step()
    reference = json.loads((step_folders(repository, 1)[POSTPROCESS] / DRIFT_REFERENCE_FILENAME).read_text())

    def counts(metric, label, names):
        return [
            metric_total(after, metric, **{label: name}) - metric_total(before, metric, **{label: name})
            for name in names
        ]

    categories = counts("ticket_classifier_predictions_total", "category", reference["labels"])
    edges = reference["confidence_edges"]
    cumulative = [bucket(after, edge) - bucket(before, edge) for edge in edges[1:]]
    bins = [high - low for low, high in zip([0.0, *cumulative[:-1]], cumulative)]
    assert sum(categories) == sum(bins) == 80
    epsilon = monitor.config.epsilon
    expected_category = by_hand_psi(
        [reference["category_shares"][label] for label in reference["labels"]], categories, epsilon
    )
    expected_confidence = by_hand_psi(reference["confidence_shares"], bins, epsilon)
    assert psi[("category", "time")] == pytest.approx(expected_category, rel=1e-9)
    assert psi[("confidence", "time")] == pytest.approx(expected_confidence, rel=1e-9)
    flagged = metric_total(after, "ticket_classifier_review_rules_total", rule="unknown_category") - metric_total(
        before, "ticket_classifier_review_rules_total", rule="unknown_category"
    )
    share = reference["unknown_category_share"]
    assert share == 0.05  # repository.novelty_flag_rate, written by the builder
    expected_unknown = by_hand_psi([share, 1 - share], [flagged, 80 - flagged], epsilon)
    assert psi[("unknown_category", "time")] == pytest.approx(expected_unknown, rel=1e-9)
    assert expected_category > 0.01, "a mixed stream is measurably off the reference"
