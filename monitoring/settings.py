"""Settings of the drift monitor (loadable without prometheus_client installed)."""

import os
import urllib.parse
from dataclasses import dataclass

from ticket_classifier.monitoring.psi import DEFAULT_EPSILON

WEBHOOK_URL_ENV = "TICKET_CLASSIFIER_WEBHOOK_URL"


@dataclass
class DriftMonitorConfig:
    """The ``monitoring`` section of ``configs/production.yaml``."""

    triton_url: str = "localhost:8000"
    triton_metrics_url: str = "http://localhost:8002/metrics"
    model_repository: str | None = "model_repository"
    reference: str | None = None
    port: int = 8003
    bind_address: str = "127.0.0.1"
    tls_ca_file: str | None = None
    scrape_interval_s: float = 15.0
    stale_after_s: float = 60.0
    time_window_s: float = 3600.0
    count_window: int = 1000
    min_predictions: int = 100
    warning_psi: float = 0.1
    alert_psi: float = 0.25
    epsilon: float = DEFAULT_EPSILON
    webhook_url: str | None = None
    webhook_timeout_s: float = 5.0
    webhook_attempts: int = 3
    webhook_backoff_s: float = 1.0
    webhook_queue_size: int = 100

    def __post_init__(self) -> None:
        if self.webhook_url is None and os.environ.get(WEBHOOK_URL_ENV):
            self.webhook_url = os.environ[WEBHOOK_URL_ENV]
        if self.webhook_url is not None:
            check_webhook_url(self.webhook_url)
        if self.webhook_attempts < 1 or self.webhook_queue_size < 1 or self.webhook_backoff_s < 0:
            raise ValueError("monitoring.webhook_attempts and webhook_queue_size must be at least 1, backoff >= 0")
        if self.webhook_timeout_s <= 0 or self.stale_after_s <= 0:
            raise ValueError("monitoring.webhook_timeout_s and monitoring.stale_after_s must be positive")
        if self.scrape_interval_s <= 0 or self.time_window_s <= 0:
            raise ValueError("monitoring.scrape_interval_s and monitoring.time_window_s must be positive")
        if self.count_window < 1 or self.min_predictions < 1:
            raise ValueError("monitoring.count_window and monitoring.min_predictions must be at least 1")
        if not 0 < self.warning_psi <= self.alert_psi:
            raise ValueError("monitoring needs 0 < warning_psi <= alert_psi")
        if not 0 < self.epsilon < 0.01:
            raise ValueError("monitoring.epsilon must lie in (0, 0.01)")


def check_webhook_url(url: str) -> None:
    """Refuse a webhook address that is not an absolute http(s) URL (without showing it: it may hold a token)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"monitoring.webhook_url (or ${WEBHOOK_URL_ENV}) must be an http:// or https:// URL with a host, "
            f"got {redact_url(url)}"
        )


def redact_url(url: str) -> str:
    """``scheme://host[:port]/...``: enough to tell which receiver, never its path, query or credentials."""
    try:
        parts = urllib.parse.urlsplit(url)
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "an address that is not a URL"
    if not parts.scheme or not parts.hostname:
        return "an address that is not a URL"
    return f"{parts.scheme}://{parts.hostname}{port}/..."
