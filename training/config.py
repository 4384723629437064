"""Training configuration: dataclasses loaded strictly from YAML (see ``configs/``)."""

from dataclasses import dataclass, field
from typing import Literal

from ticket_classifier.config import load_config


@dataclass
class DataConfig:
    """Where the labelled tickets are, which columns hold what, and how they are split."""

    path: str = "data/demo/tickets.csv"
    text_fields: list[str] = field(default_factory=lambda: ["subject", "description"])
    label_field: str = "category"
    timestamp_field: str | None = "created_at"
    test_path: str | None = None
    validation_fraction: float = 0.1
    test_fraction: float = 0.1
    min_examples_per_label: int = 10
    encoding: str = "utf-8"
    encoding_errors: Literal["strict", "replace"] = "strict"

    def __post_init__(self) -> None:
        if not self.text_fields:
            raise ValueError("data.text_fields must name at least one column")
        for name in ("validation_fraction", "test_fraction"):
            if not 0.0 < getattr(self, name) < 0.5:
                raise ValueError(f"data.{name} must be between 0 and 0.5, got {getattr(self, name)}")
        if self.min_examples_per_label < 1:
            raise ValueError("data.min_examples_per_label must be at least 1")


@dataclass
class ModelConfig:
    """Which encoder to fine-tune, how its input is cut, and what stays frozen."""

    encoder: str = "minilm"
    max_length: int = 128
    length_buckets: list[int] = field(default_factory=lambda: [32, 64])
    freeze_embeddings: bool = False
    freeze_layers: int = 0

    def __post_init__(self) -> None:
        if self.freeze_layers < 0:
            raise ValueError("model.freeze_layers must not be negative")


@dataclass
class OptimizationConfig:
    """The loss, the optimiser and the training loop."""

    epochs: int = 3
    batch_size: int = 32
    learning_rate: float = 5e-5
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    max_grad_norm: float = 1.0
    loss: Literal["focal", "cross_entropy"] = "focal"
    focal_gamma: float = 2.0
    class_weights: Literal["inverse_frequency", "none"] | dict[str, float] = "inverse_frequency"
    early_stopping_patience: int = 2
    mixed_precision: bool = True
    log_every_steps: int = 20
    save_every_steps: int = 0
    seed: int = 13

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError("optimization.epochs and optimization.batch_size must be at least 1")
        if self.learning_rate <= 0:
            raise ValueError(f"optimization.learning_rate must be positive, got {self.learning_rate}")
        if self.focal_gamma < 0:
            raise ValueError("optimization.focal_gamma must not be negative")
        if self.early_stopping_patience < 1:
            raise ValueError("optimization.early_stopping_patience must be at least 1")
        if isinstance(self.class_weights, dict) and any(weight <= 0 for weight in self.class_weights.values()):
            raise ValueError("optimization.class_weights must all be positive")


@dataclass
class EvaluationConfig:
    """What the evaluation report looks at."""

    critical_categories: list[str] = field(default_factory=list)
    review_threshold: float = 0.6
    calibration_bins: int = 15
    baseline: bool = True

    def __post_init__(self) -> None:
        if not 0.0 <= self.review_threshold <= 1.0:
            raise ValueError("evaluation.review_threshold must lie in [0, 1]")
        if self.calibration_bins < 2:
            raise ValueError("evaluation.calibration_bins must be at least 2")


@dataclass
class TrainingConfig:
    """Everything ``ticket-classifier train`` needs."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optimization: OptimizationConfig = field(default_factory=OptimizationConfig)
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)
    output_dir: str = "artifacts/checkpoint"


def load_training_config(path: str) -> TrainingConfig:
    """Read a training YAML file; unknown keys and wrong types are errors."""
    return load_config(TrainingConfig, path)
