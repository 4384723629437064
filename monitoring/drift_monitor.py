"""The drift sidecar: PSI of what the served model predicts against what it predicted in validation.

It scrapes Triton's metrics endpoint (the product counters of the postprocessing model),
keeps sliding windows by time and by count, computes the PSI of the predicted-category
distribution and of the confidence histogram against the drift reference of the served model
version, and exposes ``ticket_classifier_*`` gauges on its own port for Prometheus. Triton
being down or restarting is reported (staleness, restarts), never fatal. An optional webhook
receives a JSON message whenever a drift status changes.
"""

import json
import logging
import math
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge

from ticket_classifier.drift_reference import DRIFT_REFERENCE_FILENAME, read_drift_reference
from ticket_classifier.errors import TicketClassifierError
from ticket_classifier.monitoring.counters import CounterHistory, parse_product_counters
from ticket_classifier.monitoring.product_metrics import confidence_bin_names
from ticket_classifier.monitoring.psi import drift_status, population_stability_index
from ticket_classifier.monitoring.settings import DriftMonitorConfig

log = logging.getLogger(__name__)

SIGNALS = ("category", "confidence")
WINDOWS = ("time", "count")
ENSEMBLE = "ticket_classifier"
POSTPROCESS = "ticket_classifier_postprocess"


class DriftMetrics:
    """The sidecar's own Prometheus metrics."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.psi = Gauge(
            "ticket_classifier_drift_psi",
            "PSI of the served predictions against the drift reference",
            ["signal", "window"],
            registry=registry,
        )
        self.status = Gauge(
            "ticket_classifier_drift_status",
            "Drift status: 0 stable, 1 warning, 2 alert, -1 not enough data",
            ["signal", "window"],
            registry=registry,
        )
        self.window_size = Gauge(
            "ticket_classifier_drift_window_predictions", "Predictions in the window", ["window"], registry=registry
        )
        self.scrape_age = Gauge(
            "ticket_classifier_drift_last_scrape_age_seconds",
            "Seconds since the last successful scrape of Triton",
            registry=registry,
        )
        self.scrape_errors = Counter(
            "ticket_classifier_drift_scrape_errors", "Failed scrapes of Triton's metrics", registry=registry
        )
        self.restarts = Counter(
            "ticket_classifier_drift_triton_restarts", "Counter resets seen (Triton restarts)", registry=registry
        )
        self.model_ready = Gauge(
            "ticket_classifier_model_ready", "1 when the ticket_classifier model answers ready", registry=registry
        )
        self.reference_examples = Gauge(
            "ticket_classifier_drift_reference_examples",
            "Tickets the drift reference summarises",
            ["model_version"],
            registry=registry,
        )


class DriftMonitor:
    """One sidecar: call :meth:`step` periodically (or :meth:`run`)."""

    def __init__(self, config: DriftMonitorConfig, registry: CollectorRegistry | None = None) -> None:
        self.config = config
        self.registry = registry or CollectorRegistry()
        self.metrics = DriftMetrics(self.registry)
        self.history = CounterHistory(max_age_s=max(config.time_window_s * 2, 3600.0))
        self.reference: dict | None = None
        self.model_version: str | None = None
        self.last_success: float | None = None
        self.started = time.time()
        self.statuses: dict[tuple[str, str], int] = {}
        self.webhook_failures = 0

    def _reference_path(self) -> tuple[Path, str | None]:
        """The reference file and the model version it belongs to (None for a fixed file)."""
        if self.config.reference:
            return Path(self.config.reference), None
        if not self.config.model_repository:
            raise TicketClassifierError("the drift monitor needs a model repository or a reference file")
        from ticket_classifier.build.layout import active_version, model_info

        repository = Path(self.config.model_repository)
        version = active_version(repository)
        if version is None:
            raise TicketClassifierError(f"no active model version in {repository}")
        info = model_info(repository, version)
        return repository / POSTPROCESS / str(version) / DRIFT_REFERENCE_FILENAME, info["model_version"]

    def refresh_reference(self) -> None:
        """(Re)load the reference; a new served version starts fresh windows."""
        path, model_version = self._reference_path()
        if self.reference is not None and model_version == self.model_version:
            return
        self.reference = read_drift_reference(path)
        self.model_version = model_version
        self.history = CounterHistory(max_age_s=self.history.max_age_s)
        self.metrics.reference_examples.labels(model_version=model_version or "any").set(self.reference["examples"])
        log.info("drift reference %s (model version %s)", path, model_version or "any")

    def step(self, now: float | None = None) -> dict:
        """Scrape once, update every gauge; returns the PSI values. Triton errors are reported, not raised."""
        now = time.time() if now is None else now
        try:
            self.refresh_reference()
        except TicketClassifierError as exc:
            if self.reference is None:
                raise
            log.warning("keeping the current drift reference: %s", exc)
        self.metrics.model_ready.set(1.0 if self._model_ready() else 0.0)
        try:
            with urllib.request.urlopen(self.config.triton_metrics_url, timeout=5) as response:
                text = response.read().decode("utf-8", errors="replace")
        except (urllib.error.URLError, OSError) as exc:
            self.metrics.scrape_errors.inc()
            self._set_age(now)
            log.warning("cannot scrape %s: %s", self.config.triton_metrics_url, exc)
            return {}
        resets = self.history.resets
        self.history.update(parse_product_counters(text, self.model_version), now)
        if self.history.resets > resets:
            self.metrics.restarts.inc()
        self.last_success = now
        self._set_age(now)
        return self._compute(now)

    def _set_age(self, now: float) -> None:
        """Seconds since the last successful scrape (since start, before the first)."""
        self.metrics.scrape_age.set(now - (self.last_success if self.last_success is not None else self.started))

    def _model_ready(self) -> bool:
        """True when Triton says the ensemble is ready."""
        try:
            url = f"http://{self.config.triton_url}/v2/models/{ENSEMBLE}/ready"
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def _compute(self, now: float) -> dict:
        """PSI and status for every signal and window."""
        reference = self.reference
        labels = reference["labels"]
        bins = confidence_bin_names(reference["confidence_edges"])
        expected = {
            "category": [reference["category_shares"][label] for label in labels],
            "confidence": reference["confidence_shares"],
        }
        windows = {
            "time": self.history.window_by_time(self.config.time_window_s),
            "count": self.history.window_by_count(self.config.count_window),
        }
        values = {}
        for window, (categories, confidence) in windows.items():
            observed = {
                "category": [categories.get(label, 0.0) for label in labels],
                "confidence": [confidence.get(name, 0.0) for name in bins],
            }
            size = sum(observed["category"])
            self.metrics.window_size.labels(window=window).set(size)
            for signal in SIGNALS:
                psi = math.nan
                if size >= self.config.min_predictions:
                    psi = population_stability_index(expected[signal], observed[signal], self.config.epsilon)
                status = drift_status(psi, self.config.warning_psi, self.config.alert_psi)
                self.metrics.psi.labels(signal=signal, window=window).set(psi)
                self.metrics.status.labels(signal=signal, window=window).set(status)
                self._notify(signal, window, psi, status, now)
                values[(signal, window)] = psi
        return values

    def _notify(self, signal: str, window: str, psi: float, status: int, now: float) -> None:
        """POST to the webhook when a status changes (not on the first computation)."""
        previous = self.statuses.get((signal, window))
        self.statuses[(signal, window)] = status
        if not self.config.webhook_url or previous is None or previous == status:
            return
        message = {
            "signal": signal,
            "window": window,
            "psi": None if math.isnan(psi) else round(psi, 4),
            "status": status,
            "previous_status": previous,
            "model_version": self.model_version,
            "at": now,
        }
        request = urllib.request.Request(
            self.config.webhook_url, data=json.dumps(message).encode(), headers={"Content-Type": "application/json"}
        )
        try:
            urllib.request.urlopen(request, timeout=self.config.webhook_timeout_s).close()
        except (urllib.error.URLError, OSError) as exc:
            self.webhook_failures += 1
            log.warning("webhook %s failed: %s", self.config.webhook_url, exc)

    def run(self, stop: threading.Event) -> None:
        """Serve the metrics and scrape every ``scrape_interval_s`` until ``stop`` is set."""
        from prometheus_client import start_http_server

        server, thread = start_http_server(self.config.port, addr=self.config.bind_address, registry=self.registry)
        log.info("drift monitor on :%d, scraping %s", self.config.port, self.config.triton_metrics_url)
        try:
            while not stop.is_set():
                self.step()
                stop.wait(self.config.scrape_interval_s)
        finally:
            server.shutdown()
            thread.join(timeout=5)
