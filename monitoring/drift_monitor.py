"""The drift sidecar: PSI of what the served model predicts against what it predicted in validation.

It scrapes Triton's metrics endpoint (the product counters of the postprocessing model),
keeps sliding windows by time and by count, computes the PSI of the predicted-category
distribution and of the confidence histogram against the drift reference of the served model
version, and exposes ``ticket_classifier_*`` gauges on its own port for Prometheus. Triton
being down or restarting is reported (staleness, restarts), never fatal: once no scrape has
succeeded for ``stale_after_s``, PSI is NaN, every status is -1 (unknown) and
``ticket_classifier_drift_stale`` is 1, instead of showing the last values as if current. An
optional webhook receives a JSON message whenever a drift status changes, from a background
queue that never holds up a scrape (:mod:`ticket_classifier.monitoring.webhook`).

Its HTTP endpoint listens on loopback by default and answers only ``/metrics`` and ``/healthz``.
"""

import json
import logging
import math
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, generate_latest

from ticket_classifier.build.layout import active_version, model_info, step_folders
from ticket_classifier.drift_reference import DRIFT_REFERENCE_MIN_EXAMPLES, UNKNOWN_CATEGORY_SHARE, read_drift_reference
from ticket_classifier.errors import TicketClassifierError
from ticket_classifier.http_endpoint import Endpoint
from ticket_classifier.monitoring.counters import CounterHistory, bin_counts, parse_product_counters
from ticket_classifier.monitoring.psi import drift_status, population_stability_index
from ticket_classifier.monitoring.settings import DriftMonitorConfig, redact_url
from ticket_classifier.monitoring.webhook import WebhookSender
from ticket_classifier.runtime.contract import DRIFT_REFERENCE_FILENAME, ENSEMBLE, POSTPROCESS
from ticket_classifier.triton_admin import base_url, tls_context

log = logging.getLogger(__name__)

# PSI signals: the predicted-category distribution, the confidence histogram, and the share of
# tickets flagged unknown_category against the share the model's threshold flags on known
# categories (new kinds of tickets appearing is the most common real drift).
SIGNALS = ("category", "confidence", "unknown_category")
WINDOWS = ("time", "count")
STATUS_NAMES = {-1: "unknown", 0: "stable", 1: "warning", 2: "alert"}


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
            "Drift status: 0 stable, 1 warning, 2 alert, -1 unknown (not enough data, or stale)",
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
        self.stale = Gauge(
            "ticket_classifier_drift_stale",
            "1 when no scrape of Triton succeeded for stale_after_s: PSI and status are unknown",
            registry=registry,
        )
        self.delivered = Counter(
            "ticket_classifier_drift_webhook_deliveries", "Webhook messages delivered", registry=registry
        )
        self.failed = Counter(
            "ticket_classifier_drift_webhook_failures",
            "Webhook messages given up after every attempt failed",
            registry=registry,
        )
        self.dropped = Counter(
            "ticket_classifier_drift_webhook_dropped",
            "Webhook messages dropped because the queue was full",
            registry=registry,
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
        self.stale = False
        self.ssl_context = tls_context(config.tls_ca_file)
        self.webhook = WebhookSender(config, self.metrics) if config.webhook_url else None

    def _reference_path(self) -> tuple[Path, str | None]:
        """The reference file and the model version it belongs to (None for a fixed file)."""
        if self.config.reference:
            return Path(self.config.reference), None
        if not self.config.model_repository:
            raise TicketClassifierError("the drift monitor needs a model repository or a reference file")
        repository = Path(self.config.model_repository)
        version = active_version(repository)
        if version is None:
            raise TicketClassifierError(f"no active model version in {repository}")
        info = model_info(repository, version)
        return step_folders(repository, version)[POSTPROCESS] / DRIFT_REFERENCE_FILENAME, info["model_version"]

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
        if self.reference["examples"] < DRIFT_REFERENCE_MIN_EXAMPLES:
            log.warning(
                "the drift reference summarises only %d predictions (fewer than %d): PSI of in-distribution "
                "traffic will be noisy",
                self.reference["examples"],
                DRIFT_REFERENCE_MIN_EXAMPLES,
            )

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
            with urllib.request.urlopen(
                self.config.triton_metrics_url, timeout=5, context=self.ssl_context
            ) as response:
                text = response.read().decode("utf-8", errors="replace")
        except (urllib.error.URLError, OSError) as exc:
            self.metrics.scrape_errors.inc()
            self._set_age(now)
            log.warning("cannot scrape %s: %s", self.config.triton_metrics_url, exc)
            if now - (self.last_success if self.last_success is not None else self.started) > self.config.stale_after_s:
                self._mark_unknown(now)
            return {}
        self.stale = False
        self.metrics.stale.set(0)
        resets = self.history.resets
        self.history.update(parse_product_counters(text, self.model_version), now)
        if self.history.resets > resets:
            self.metrics.restarts.inc()
        self.last_success = now
        self._set_age(now)
        return self._compute(now)

    def _mark_unknown(self, now: float) -> None:
        """No fresh data: PSI NaN, every status -1, the stale gauge 1 (the last values are not current)."""
        if not self.stale:
            log.warning("no data from Triton for %.0f s: drift status unknown", self.config.stale_after_s)
        self.stale = True
        self.metrics.stale.set(1)
        for signal in SIGNALS:
            for window in WINDOWS:
                self.metrics.psi.labels(signal=signal, window=window).set(math.nan)
                self.metrics.status.labels(signal=signal, window=window).set(-1)
                self._notify(signal, window, math.nan, -1, now)

    def _set_age(self, now: float) -> None:
        """Seconds since the last successful scrape (since start, before the first)."""
        self.metrics.scrape_age.set(now - (self.last_success if self.last_success is not None else self.started))

    def _model_ready(self) -> bool:
        """True when Triton says the ensemble is ready."""
        try:
            url = f"{base_url(self.config.triton_url)}/v2/models/{ENSEMBLE}/ready"
            with urllib.request.urlopen(url, timeout=5, context=self.ssl_context) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError, TicketClassifierError):
            return False

    def _compute(self, now: float) -> dict:
        """PSI and status for every signal and window."""
        reference = self.reference
        labels = reference["labels"]
        unknown_share = reference.get(UNKNOWN_CATEGORY_SHARE)
        expected = {
            "category": [reference["category_shares"][label] for label in labels],
            "confidence": reference["confidence_shares"],
            "unknown_category": None if unknown_share is None else [unknown_share, 1.0 - unknown_share],
        }
        windows = {
            "time": self.history.window_by_time(self.config.time_window_s),
            "count": self.history.window_by_count(self.config.count_window),
        }
        values = {}
        for window, (categories, confidence, unknown) in windows.items():
            observed = {
                "category": [categories.get(label, 0.0) for label in labels],
                "confidence": bin_counts(confidence, reference["confidence_edges"]),
            }
            size = sum(observed["category"])
            observed["unknown_category"] = [unknown, max(size - unknown, 0.0)]
            self.metrics.window_size.labels(window=window).set(size)
            for signal in SIGNALS:
                psi = math.nan
                if size >= self.config.min_predictions and expected[signal] is not None:
                    psi = population_stability_index(expected[signal], observed[signal], self.config.epsilon)
                status = drift_status(psi, self.config.warning_psi, self.config.alert_psi)
                self.metrics.psi.labels(signal=signal, window=window).set(psi)
                self.metrics.status.labels(signal=signal, window=window).set(status)
                self._notify(signal, window, psi, status, now)
                values[(signal, window)] = psi
        return values

    def _notify(self, signal: str, window: str, psi: float, status: int, now: float) -> None:
        """Log a status change and queue it for the webhook (not the first computation)."""
        previous = self.statuses.get((signal, window))
        self.statuses[(signal, window)] = status
        if previous is None or previous == status:
            return
        log.info(
            "drift %s/%s: %s -> %s (PSI %s, model version %s)",
            signal,
            window,
            STATUS_NAMES[previous],
            STATUS_NAMES[status],
            "n/a" if math.isnan(psi) else f"{psi:.3f}",
            self.model_version or "any",
        )
        if self.webhook is None:
            return
        self.webhook.send(
            {
                "signal": signal,
                "window": window,
                "psi": None if math.isnan(psi) else round(psi, 4),
                "status": status,
                "previous_status": previous,
                "model_version": self.model_version,
                "at": now,
            }
        )

    def run(self, stop: threading.Event) -> None:
        """Serve ``/metrics`` and ``/healthz`` and scrape every ``scrape_interval_s`` until ``stop`` is set."""
        webhook = f"; webhook {redact_url(self.config.webhook_url)}" if self.config.webhook_url else ""
        try:
            with metrics_endpoint(self, self.config.bind_address, self.config.port) as endpoint:
                log.info(
                    "drift monitor on %s:%d, scraping %s%s",
                    self.config.bind_address,
                    endpoint.port,
                    self.config.triton_metrics_url,
                    webhook,
                )
                while not stop.is_set():
                    self.step()
                    stop.wait(self.config.scrape_interval_s)
        finally:
            if self.webhook is not None:
                self.webhook.close()


def metrics_endpoint(monitor: DriftMonitor, host: str, port: int) -> Endpoint:
    """The sidecar's HTTP endpoint: ``/metrics`` (Prometheus text) and ``/healthz`` (JSON); anything else 404."""

    def healthz() -> tuple[int, str, bytes]:
        age = time.time() - (monitor.last_success or monitor.started)
        return 200, "application/json", json.dumps({"status": "ok", "last_scrape_age_seconds": round(age, 1)}).encode()

    routes = {"/metrics": lambda: (200, CONTENT_TYPE_LATEST, generate_latest(monitor.registry)), "/healthz": healthz}
    return Endpoint(host, port, routes, "drift monitor endpoint")
