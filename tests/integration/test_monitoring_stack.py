"""Real Prometheus scraping a real tritonserver and the drift sidecar.

An in-distribution stream and then a drifted stream (both from the demo data generator) go
through the server. Every Grafana panel's query must return data, and the drift alert must
fire for the drifted stream and not for the in-distribution one. The alert rules are the
committed ones, with their ``for:`` durations shortened to seconds (the durations themselves
are checked by ``promtool test rules``).
"""

import json
import re
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import yaml

from ticket_classifier.build.repository import build_repository
from ticket_classifier.clients.client import TicketClassifierClient
from ticket_classifier.drift_reference import drift_reference, write_drift_reference
from ticket_classifier.server import ServerConfig, TritonServer, free_port
from ticket_classifier.training.demo_data import generate_tickets

pytestmark = [pytest.mark.integration, pytest.mark.parametrize("tiny_model", ["bert"], indirect=True)]
MONITORING = Path(__file__).resolve().parents[2] / "monitoring"
DRIFT_ALERT = "TicketClassifierPredictionDrift"


def wait_for(predicate, timeout_s=90.0, interval_s=1.0, what="condition"):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval_s)
    raise AssertionError(f"timed out waiting for {what}")


class Prometheus:
    """A real Prometheus process with the committed rules (short ``for:``) and 1 s intervals."""

    def __init__(
        self, binary: str, folder: Path, triton_metrics_port: int, sidecar_port: int, target_labels: dict | None = None
    ) -> None:
        self.port = free_port()
        rules = folder / "rules"
        rules.mkdir(parents=True)
        for name in ("recording.yml", "alerts.yml"):
            text = (MONITORING / "prometheus" / "rules" / name).read_text()
            (rules / name).write_text(re.sub(r"for: \d+[mh]", "for: 5s", text))
        config = yaml.safe_load((MONITORING / "prometheus" / "prometheus.yml").read_text())
        config["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
        targets = {"triton": f"127.0.0.1:{triton_metrics_port}", "ticket-classifier-drift": f"127.0.0.1:{sidecar_port}"}
        for job in config["scrape_configs"]:
            job["static_configs"] = [{"targets": [targets[job["job_name"]]], "labels": target_labels or {}}]
        (folder / "prometheus.yml").write_text(yaml.safe_dump(config))
        self.process = subprocess.Popen(
            [
                binary,
                f"--config.file={folder / 'prometheus.yml'}",
                f"--storage.tsdb.path={folder / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(self._ready, 60, 0.5, "prometheus to be ready")

    def _ready(self) -> bool:
        try:
            return urllib.request.urlopen(f"http://127.0.0.1:{self.port}/-/ready", timeout=2).status == 200
        except OSError:
            return False

    def api(self, path: str, **params):
        url = f"http://127.0.0.1:{self.port}/api/v1/{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        return json.loads(urllib.request.urlopen(url, timeout=10).read())["data"]

    def query(self, expr: str):
        return self.api("query", query=expr)["result"]

    def firing(self, alertname: str) -> list:
        return [
            a for a in self.api("alerts")["alerts"] if a["labels"]["alertname"] == alertname and a["state"] == "firing"
        ]

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=30)


def send(server, tickets, rounds_per_second=20):
    with TicketClassifierClient(server.grpc_url) as client:
        for start in range(0, len(tickets), 10):
            client.classify_batch(tickets[start : start + 10])
            time.sleep(10 / rounds_per_second / 10)


@pytest.fixture
def stack(tiny_model, tmp_path, require_binary):
    binary = require_binary("prometheus")
    repository = tmp_path / "repository"
    build_repository(tiny_model.checkpoint, tiny_model.onnx.parent, repository)
    server = TritonServer(repository, ServerConfig.on_free_ports())
    server.start()
    sidecar = prometheus = None
    try:
        # The reference: served predictions on 600 in-distribution tickets (the tiny model's own
        # validation split has only 48, too few for a stable PSI).
        with TicketClassifierClient(server.grpc_url) as client:
            predictions = client.classify_batch([(t.subject, t.description) for t in generate_tickets(600, seed=11)])
        labels = sorted(predictions[0].scores)
        probabilities = np.array([[p.scores[label] for label in labels] for p in predictions])
        write_drift_reference(tmp_path, drift_reference(probabilities, labels, "600 served in-distribution tickets"))
        sidecar_port = free_port()
        sidecar = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "ticket_classifier.cli",
                "drift-monitor",
                "--port",
                str(sidecar_port),
                "--triton-url",
                server.http_url,
                "--triton-metrics-url",
                server.metrics_url,
                "--reference",
                str(tmp_path / "drift_reference.json"),
                "--model-repository",
                str(repository),
                "--scrape-interval",
                "1",
                "--config",
                str(write_monitoring_config(tmp_path)),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        prometheus = Prometheus(binary, tmp_path / "prometheus", server.config.metrics_port, sidecar_port)
        yield server, prometheus
    finally:
        if prometheus:
            prometheus.stop()
        if sidecar:
            sidecar.terminate()
            sidecar.wait(timeout=30)
        server.stop()


def write_monitoring_config(folder: Path) -> Path:
    """The production config with a small count window, so a short test stream fills it."""
    config = yaml.safe_load(Path("configs/production.yaml").read_text())
    config["monitoring"].update(count_window=200, min_predictions=100, time_window_s=3600)
    path = folder / "production.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_dashboard_queries_return_data_and_drift_alert_fires_only_for_drift(stack):
    server, prometheus = stack
    wait_for(lambda: prometheus.query('up{job="ticket-classifier-drift"} == 1'), what="the sidecar target")
    send(server, [(t.subject, t.description) for t in generate_tickets(300, seed=12)])
    wait_for(
        lambda: prometheus.query('ticket_classifier_drift_window_predictions{window="count"} >= 200'),
        what="the count window to fill",
    )
    time.sleep(8)  # longer than the shortened "for:" of the alert
    psi_in_distribution = {
        r["metric"]["signal"]: float(r["value"][1])
        for r in prometheus.query('ticket_classifier_drift_psi{window="count"}')
    }
    assert prometheus.firing(DRIFT_ALERT) == [], psi_in_distribution
    assert max(psi_in_distribution.values()) < 0.25

    dashboard = json.loads((MONITORING / "grafana" / "dashboards" / "ticket-classifier.json").read_text())
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            expr = target["expr"].replace("$__rate_interval", "30s").replace("$instance", ".*")
            assert prometheus.query(expr), f"panel {panel['title']!r}: no data for {expr}"

    # A stream far off the reference, so that the alert does not hang on the tiny model's PSI of a mild
    # drift (about 0.25, the threshold itself): drifted tickets of two categories only.
    drifted = [t for t in generate_tickets(3000, seed=13, drifted=True) if t.category in ("Printing", "Database")]
    send(server, [(t.subject, t.description) for t in drifted[:400]])
    try:
        alerts = wait_for(lambda: prometheus.firing(DRIFT_ALERT), timeout_s=120, what="the drift alert")
    except AssertionError:
        raise AssertionError(f"no drift alert; PSI now {prometheus.query('ticket_classifier_drift_psi')}") from None
    assert {alert["labels"]["window"] for alert in alerts} >= {"count"}


DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
AUTOSCALING_RULE = "pod:ticket_classifier_queue_ms_per_request:rate1m"
POD_LABELS = {"namespace": "ticket-classifier", "pod": "ticket-classifier-0"}


def hpa_target() -> tuple[str, float]:
    """The HorizontalPodAutoscaler's custom metric and its per-pod target, from the manifest."""
    hpa = yaml.safe_load((DEPLOY / "base" / "horizontalpodautoscaler.yaml").read_text())
    (metric,) = hpa["spec"]["metrics"]
    return metric["pods"]["metric"]["name"], float(metric["pods"]["target"]["averageValue"])


def adapter_query() -> str:
    """The prometheus-adapter rule's query for our pod, expanded as the adapter expands it."""
    (rule,) = yaml.safe_load((DEPLOY / "prometheus-adapter" / "values.yaml").read_text())["rules"]["custom"]
    matchers = ",".join(f'{key}="{value}"' for key, value in POD_LABELS.items())
    return (
        rule["metricsQuery"]
        .replace("<<.Series>>", AUTOSCALING_RULE)
        .replace("<<.LabelMatchers>>", matchers)
        .replace("<<.GroupBy>>", "pod")
    )


def test_autoscaling_metric_is_below_the_hpa_target_at_rest_and_light_load_and_above_it_under_load(
    tiny_model, tmp_path, require_binary
):
    """The HPA's metric, computed live: the committed recording rule in a real Prometheus scraping a
    real tritonserver (its target labelled as the PodMonitor labels it), read through the
    prometheus-adapter rule's own query, against the target in the HPA manifest."""
    from ticket_classifier.performance.perf_analyzer import PerfAnalyzer

    metric_name, target = hpa_target()
    (rule,) = yaml.safe_load((DEPLOY / "prometheus-adapter" / "values.yaml").read_text())["rules"]["custom"]
    assert rule["name"]["as"] == metric_name
    repository = tmp_path / "repository"
    build_repository(tiny_model.checkpoint, tiny_model.onnx.parent, repository)
    tickets = [(t.subject, t.description) for t in generate_tickets(200, seed=5)]
    with TritonServer(repository, ServerConfig.on_free_ports()) as server:
        prometheus = Prometheus(
            require_binary("prometheus"), tmp_path / "prometheus", server.config.metrics_port, free_port(), POD_LABELS
        )
        try:
            query = adapter_query()

            def value() -> float | None:
                series = prometheus.query(rule["seriesQuery"])
                result = prometheus.query(query)
                return float(result[0]["value"][1]) if series and result else None

            at_rest = wait_for(lambda: value() is not None and [value()], what="the recorded series")[0]
            with PerfAnalyzer(tickets, window_ms=2000) as load:
                light = load.measure(server.grpc_url, "grpc", 1, "light")
                time.sleep(3)  # two more scrapes and rule evaluations
                at_light_load = value()
                heavy = load.measure(server.grpc_url, "grpc", 256, "heavy")
                time.sleep(3)
                under_load = value()
        finally:
            prometheus.stop()
    figures = f"at rest {at_rest}, at concurrency 1 {at_light_load}, at 256 {under_load} ms; target {target} ms"
    assert light.errors == 0 and heavy.errors == 0, figures
    assert at_rest < target and at_light_load < target, figures
    assert under_load > target, figures
