"""Training configuration: dataclasses loaded strictly from YAML (see ``configs/``)."""

from dataclasses import dataclass, field

from ticket_classifier.config import load_config


@dataclass
class DataConfig:
    """Where the labelled tickets are and which columns hold what."""

    path: str = "data/demo/tickets.csv"
    text_fields: list[str] = field(default_factory=lambda: ["subject", "description"])
    label_field: str = "category"
    timestamp_field: str | None = "created_at"
    validation_fraction: float = 0.1
    test_fraction: float = 0.1

    def __post_init__(self) -> None:
        if not self.text_fields:
            raise ValueError("data.text_fields must name at least one column")
        for name in ("validation_fraction", "test_fraction"):
            if not 0.0 < getattr(self, name) < 0.5:
                raise ValueError(f"data.{name} must be between 0 and 0.5, got {getattr(self, name)}")


@dataclass
class ModelConfig:
    """Which encoder to fine-tune and how its input is cut."""

    encoder: str = "minilm"
    max_length: int = 128
    length_buckets: list[int] = field(default_factory=lambda: [32, 64])


@dataclass
class OptimizationConfig:
    """The optimiser and the training loop."""

    epochs: int = 3
    batch_size: int = 32
    learning_rate: float = 5e-5
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    max_grad_norm: float = 1.0
    seed: int = 13

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError("optimization.epochs and optimization.batch_size must be at least 1")
        if self.learning_rate <= 0:
            raise ValueError(f"optimization.learning_rate must be positive, got {self.learning_rate}")


@dataclass
class TrainingConfig:
    """Everything ``ticket-classifier train`` needs."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optimization: OptimizationConfig = field(default_factory=OptimizationConfig)
    output_dir: str = "artifacts/checkpoint"


def load_training_config(path: str) -> TrainingConfig:
    """Read a training YAML file; unknown keys and wrong types are errors."""
    return load_config(TrainingConfig, path)
