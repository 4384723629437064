"""Training configuration: dataclasses loaded strictly from YAML (see ``configs/``), or built from flags.

Relative paths in a config file (``data.path``, ``data.test_path``, ``output_dir``, and a local
``model.encoder`` folder) are relative to the file's own folder, so a config works from any
working directory.
"""

import dataclasses
import logging
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from ticket_classifier.config import config_from_mapping, load_config
from ticket_classifier.errors import TicketClassifierError

log = logging.getLogger(__name__)


@dataclass
class DataConfig:
    """Where the labelled tickets are, which columns hold what, and how they are split."""

    path: str | None = None
    text_fields: list[str] = field(default_factory=lambda: ["subject", "description"])
    label_field: str = "category"
    timestamp_field: str | None = None
    test_path: str | None = None
    validation_fraction: float = 0.1
    test_fraction: float = 0.1
    min_examples_per_label: int = 10
    drop_rare_labels: bool = False
    exclude_labels: list[str] = field(default_factory=list)  # rows of these labels are left out (held-out classes)
    encoding: str = "utf-8"
    encoding_errors: Literal["strict", "replace"] = "strict"

    def __post_init__(self) -> None:
        if not self.text_fields:
            raise ValueError("data.text_fields must name at least one column")
        for name in ("validation_fraction", "test_fraction"):
            if not 0.0 < getattr(self, name) < 0.5:
                raise ValueError(f"data.{name} must be between 0 and 0.5, got {getattr(self, name)}")
        if self.min_examples_per_label < 3:
            raise ValueError("data.min_examples_per_label must be at least 3 (one example for each split)")


@dataclass
class EncoderConfig:
    """Which encoder to fine-tune, how its input is cut, and what stays frozen."""

    encoder: str = "minilm"
    max_length: int = 128
    freeze_embeddings: bool = False
    freeze_layers: int = 0
    length_buckets: list[int] | None = None  # read from old configs and checkpoints, then ignored

    def __post_init__(self) -> None:
        if self.length_buckets is not None:
            warnings.warn(
                "model.length_buckets is ignored: length buckets are a serving setting now "
                "(repository.length_buckets in the production config, or build-repository --length-buckets)",
                FutureWarning,
                stacklevel=2,
            )
            self.length_buckets = None
        if self.freeze_layers < 0:
            raise ValueError("model.freeze_layers must not be negative")


@dataclass
class OptimizationConfig:
    """The loss, the optimiser and the training loop."""

    epochs: int = 3
    batch_size: int = 32
    # The encoder's rate; None: 2e-4 for the bundled MiniLM, 5e-5 for any other (training/encoder.py).
    learning_rate: float | None = None
    # The classification head's own rate: it starts from random while the encoder is pretrained, and at
    # the encoder's rate its logits stay so small on a short run that every ticket looks unsure.
    head_learning_rate: float = 5e-3
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    max_grad_norm: float = 1.0
    loss: Literal["focal", "cross_entropy"] = "focal"
    focal_gamma: float = 2.0
    class_weights: Literal["inverse_frequency", "none"] | dict[str, float] = "inverse_frequency"
    early_stopping_patience: int = 2
    # A supervised contrastive term on the classification head's input, added to the loss with this
    # weight (0: off); it pulls each category's tickets together, for the novelty detector.
    contrastive_weight: float = 0.0
    contrastive_temperature: float = 0.1
    mixed_precision: bool = True
    log_every_steps: int = 20
    save_every_steps: int = 0
    seed: int = 13

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError("optimization.epochs and optimization.batch_size must be at least 1")
        for name in ("learning_rate", "head_learning_rate"):
            if getattr(self, name) is not None and getattr(self, name) <= 0:
                raise ValueError(f"optimization.{name} must be positive, got {getattr(self, name)}")
        if self.focal_gamma < 0:
            raise ValueError("optimization.focal_gamma must not be negative")
        if self.early_stopping_patience < 1:
            raise ValueError("optimization.early_stopping_patience must be at least 1")
        if self.contrastive_weight < 0:
            raise ValueError(f"optimization.contrastive_weight must not be negative, got {self.contrastive_weight}")
        if self.contrastive_temperature <= 0:
            raise ValueError(
                f"optimization.contrastive_temperature must be positive, got {self.contrastive_temperature}"
            )
        if isinstance(self.class_weights, dict) and any(weight <= 0 for weight in self.class_weights.values()):
            raise ValueError("optimization.class_weights must all be positive")


@dataclass
class EvaluationConfig:
    """What the evaluation report looks at."""

    critical_categories: list[str] = field(default_factory=list)  # default: the review policy's critical ones
    review_policy: str | None = None  # YAML with a review section (as production.yaml); default: the built-in policy
    review_threshold: float | None = None  # deprecated: a policy of this confidence threshold alone
    calibration_bins: int = 15
    baseline: bool = True

    def __post_init__(self) -> None:
        if self.review_threshold is not None and not 0.0 <= self.review_threshold <= 1.0:
            raise ValueError("evaluation.review_threshold must lie in [0, 1]")
        if self.calibration_bins < 2:
            raise ValueError("evaluation.calibration_bins must be at least 2")


STUDENT_KINDS = "cnn, or transformer-N (N below the teacher's layer count)"


@dataclass
class DistillationConfig:
    """Train a student of a fine-tuned teacher instead of fine-tuning the encoder (``training/distillation.py``)."""

    teacher: str | None = None  # the teacher's checkpoint folder; None: ordinary fine-tuning
    student: str = "transformer-3"
    temperature: float = 2.0
    alpha: float = 0.5  # weight of the teacher's softened probabilities; the rest is the hard-label loss

    def __post_init__(self) -> None:
        if self.student != "cnn" and self.student_layers is None:
            raise ValueError(f"unknown distillation.student {self.student!r}: the kinds are {STUDENT_KINDS}")
        if self.temperature <= 0:
            raise ValueError(f"distillation.temperature must be positive, got {self.temperature}")
        if not 0.0 <= self.alpha <= 1.0:
            raise ValueError(f"distillation.alpha must lie in [0, 1], got {self.alpha}")

    @property
    def student_layers(self) -> int | None:
        """N of ``transformer-N``, or None for another kind."""
        match = re.fullmatch(r"transformer-([1-9][0-9]*)", self.student)
        return int(match.group(1)) if match else None


@dataclass
class TrainingConfig:
    """Everything ``ticket-classifier train`` (and ``distill``) needs."""

    data: DataConfig = field(default_factory=DataConfig)
    model: EncoderConfig = field(default_factory=EncoderConfig)
    optimization: OptimizationConfig = field(default_factory=OptimizationConfig)
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)
    distillation: DistillationConfig = field(default_factory=DistillationConfig)
    output_dir: str = "artifacts/checkpoint"


def load_training_config(path: str) -> TrainingConfig:
    """Read a training YAML file; unknown keys and wrong types are errors; relative paths are the file's."""
    config = load_config(TrainingConfig, path)
    folder = Path(path).resolve().parent
    config.data.path = _beside(folder, config.data.path)
    config.data.test_path = _beside(folder, config.data.test_path)
    config.output_dir = _beside(folder, config.output_dir)
    config.evaluation.review_policy = _beside(folder, config.evaluation.review_policy)
    config.distillation.teacher = _beside(folder, config.distillation.teacher)
    local_encoder = folder / config.model.encoder
    if not Path(config.model.encoder).is_absolute() and local_encoder.is_dir():
        config.model.encoder = str(local_encoder)
    return config


def _beside(folder: Path, value: str | None) -> str | None:
    """``value`` made absolute against ``folder`` when it is a relative path."""
    if value is None or Path(value).is_absolute():
        return value
    return str((folder / value).resolve())


def training_config(config_path: str | None = None, **overrides) -> TrainingConfig:
    """The training configuration: the file at ``config_path`` (or the defaults), with command-line overrides.

    ``overrides`` (None means "not given"): ``data``, ``text_columns``, ``label_column``,
    ``timestamp_column`` ("none" for a stratified split), ``output_dir``, ``min_examples_per_label``,
    ``drop_rare_labels``, ``encoder``, ``epochs``, ``encoding``, ``review_policy``. Values are checked as in a file.
    """
    config = load_training_config(config_path) if config_path else TrainingConfig()
    data = {
        "path": overrides.get("data"),
        "text_fields": overrides.get("text_columns"),
        "label_field": overrides.get("label_column"),
        "min_examples_per_label": overrides.get("min_examples_per_label"),
        "drop_rare_labels": overrides.get("drop_rare_labels"),
        "encoding": overrides.get("encoding"),
    }
    if overrides.get("timestamp_column") is not None:
        data["timestamp_field"] = (
            None if overrides["timestamp_column"].lower() == "none" else overrides["timestamp_column"]
        )
    sections = {
        "data": {key: value for key, value in data.items() if value is not None},
        "model": {key: value for key, value in {"encoder": overrides.get("encoder")}.items() if value is not None},
        "optimization": {key: value for key, value in {"epochs": overrides.get("epochs")}.items() if value is not None},
        "evaluation": {"review_policy": overrides["review_policy"]} if overrides.get("review_policy") else {},
    }
    merged = dataclasses.asdict(config)
    for section, values in sections.items():
        merged[section].update(values)
    if overrides.get("output_dir"):
        merged["output_dir"] = overrides["output_dir"]
    config = config_from_mapping(TrainingConfig, merged, source="command line")
    if config.evaluation.review_threshold is not None:
        log.warning("evaluation.review_threshold is deprecated: give evaluation.review_policy (a review section)")
    if not config.data.path:
        raise TicketClassifierError("no training data: give --data FILE (CSV or Parquet), or a --config with data.path")
    return config
