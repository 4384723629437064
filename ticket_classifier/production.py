"""``configs/production.yaml``: server, model-repository and review settings in one file."""

from dataclasses import dataclass, field

from ticket_classifier.build.model_configs import RepositoryOptions
from ticket_classifier.clients.protocol import ClientSettings
from ticket_classifier.clients.review import ReviewPolicy
from ticket_classifier.config import load_config
from ticket_classifier.monitoring.settings import DriftMonitorConfig
from ticket_classifier.server import ServerConfig


@dataclass
class ProductionConfig:
    """The whole production configuration."""

    server: ServerConfig = field(default_factory=ServerConfig)
    repository: RepositoryOptions = field(default_factory=RepositoryOptions)
    review: ReviewPolicy = field(default_factory=ReviewPolicy)
    client: ClientSettings = field(default_factory=ClientSettings)
    monitoring: DriftMonitorConfig = field(default_factory=DriftMonitorConfig)


def load_production_config(path: str) -> ProductionConfig:
    """Read the production YAML strictly (unknown keys are errors)."""
    return load_config(ProductionConfig, path)
