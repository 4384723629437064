"""``configs/production.yaml``: server, model-repository and review settings in one file."""

from dataclasses import dataclass, field
from pathlib import Path

from ticket_classifier.build.model_configs import RepositoryOptions
from ticket_classifier.clients.protocol import ClientSettings
from ticket_classifier.config import load_config, load_section
from ticket_classifier.monitoring.settings import DriftMonitorConfig
from ticket_classifier.runtime.review import ReviewPolicy
from ticket_classifier.server import ServerConfig


@dataclass
class ProductionConfig:
    """The whole production configuration."""

    server: ServerConfig = field(default_factory=ServerConfig)
    repository: RepositoryOptions = field(default_factory=RepositoryOptions)
    review: ReviewPolicy = field(default_factory=ReviewPolicy)
    client: ClientSettings = field(default_factory=ClientSettings)
    monitoring: DriftMonitorConfig = field(default_factory=DriftMonitorConfig)


DEFAULT_PATH = "configs/production.yaml"


def load_production_config(path: str) -> ProductionConfig:
    """Read the production YAML strictly (unknown keys are errors)."""
    return load_config(ProductionConfig, path)


def production_config(path: str | None) -> tuple[ProductionConfig, str]:
    """The settings and where they came from: ``path``; else ``configs/production.yaml`` of the working folder
    when there is one; else the built-in defaults, which equal that file's (a test holds them equal)."""
    if path:
        return load_production_config(path), path
    if Path(DEFAULT_PATH).is_file():
        return load_production_config(DEFAULT_PATH), DEFAULT_PATH
    return ProductionConfig(), "built-in defaults (no --config given and no configs/production.yaml here)"


def load_review_policy(path: str) -> ReviewPolicy:
    """A review policy from a YAML file: its ``review`` section (as in ``configs/production.yaml``), or the
    file's own top-level mapping."""
    return load_section(ReviewPolicy, path, "review")
