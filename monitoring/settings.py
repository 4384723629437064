"""Settings of the drift monitor (loadable without prometheus_client installed)."""

from dataclasses import dataclass

from ticket_classifier.monitoring.psi import DEFAULT_EPSILON


@dataclass
class DriftMonitorConfig:
    """The ``monitoring`` section of ``configs/production.yaml``."""

    triton_url: str = "localhost:8000"
    triton_metrics_url: str = "http://localhost:8002/metrics"
    model_repository: str | None = "model_repository"
    reference: str | None = None
    port: int = 8003
    bind_address: str = "0.0.0.0"
    scrape_interval_s: float = 15.0
    time_window_s: float = 3600.0
    count_window: int = 1000
    min_predictions: int = 100
    warning_psi: float = 0.1
    alert_psi: float = 0.25
    epsilon: float = DEFAULT_EPSILON
    webhook_url: str | None = None
    webhook_timeout_s: float = 5.0

    def __post_init__(self) -> None:
        if self.scrape_interval_s <= 0 or self.time_window_s <= 0:
            raise ValueError("monitoring.scrape_interval_s and monitoring.time_window_s must be positive")
        if self.count_window < 1 or self.min_predictions < 1:
            raise ValueError("monitoring.count_window and monitoring.min_predictions must be at least 1")
        if not 0 < self.warning_psi <= self.alert_psi:
            raise ValueError("monitoring needs 0 < warning_psi <= alert_psi")
        if not 0 < self.epsilon < 0.01:
            raise ValueError("monitoring.epsilon must lie in (0, 0.01)")
