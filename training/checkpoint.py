"""The checkpoint folder that training writes and export reads.

Layout: the Hugging Face model (``config.json``, ``model.safetensors``), the fast tokenizer
with its bucket settings, ``labels.json``, ``calibration.json`` (the temperature),
``drift_reference.json``, ``training_config.yaml`` (snapshot), ``metrics.json`` (with the data's
provenance: file, SHA-256, rows, splits, date range) and ``splits/validation.csv`` and
``splits/test.csv`` (``text``, ``label``): the checkpoint is self-contained, so ``evaluate``,
``export`` and the parity gates run from any folder without the original data or config.
"""

import csv
import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ticket_classifier.config import load_config
from ticket_classifier.drift_reference import write_drift_reference
from ticket_classifier.errors import TicketClassifierError
from ticket_classifier.labels import read_labels, write_labels
from ticket_classifier.runtime.contract import (
    DRIFT_REFERENCE_FILENAME,
    LABELS_FILENAME,
    REVIEW_POLICY_FILENAME,
    TOKENIZER_FILENAME,
    TOKENIZER_SETTINGS_FILENAME,
)
from ticket_classifier.runtime.tokenization import TicketTokenizer

CALIBRATION_FILENAME = "calibration.json"
SPLITS_DIRNAME = "splits"
STORED_SPLITS = ("validation", "test")
METRICS_FILENAME = "metrics.json"
CONFIG_SNAPSHOT_FILENAME = "training_config.yaml"
PAUSED_STATE_DIRNAME = "training_state"  # what --max-steps leaves (training/trainer.py writes it)
REQUIRED_FILES = (
    "config.json",
    "model.safetensors",
    TOKENIZER_FILENAME,
    TOKENIZER_SETTINGS_FILENAME,
    LABELS_FILENAME,
    CALIBRATION_FILENAME,
    DRIFT_REFERENCE_FILENAME,
)


@dataclass
class Checkpoint:
    """A trained model and everything needed to serve it."""

    model: Any
    tokenizer: TicketTokenizer
    labels: list[str]
    temperature: float
    directory: Path


def save_checkpoint(
    directory: "str | Path",
    *,
    model,
    tokenizer: TicketTokenizer,
    labels: list[str],
    temperature: float,
    config,
    metrics: dict[str, Any],
    drift_reference: dict[str, Any],
    splits: dict[str, Any],
    review_policy,
) -> Path:
    """Write every file of the checkpoint layout into ``directory``; ``splits`` maps each of
    :data:`STORED_SPLITS` to its texts and labels (``LabeledTexts``)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory, safe_serialization=True)
    tokenizer.save(directory)
    write_labels(directory, labels)
    (directory / CALIBRATION_FILENAME).write_text(json.dumps({"temperature": temperature}, indent=1) + "\n")
    (directory / CONFIG_SNAPSHOT_FILENAME).write_text(yaml.safe_dump(dataclasses.asdict(config), sort_keys=False))
    (directory / METRICS_FILENAME).write_text(json.dumps(metrics, indent=1) + "\n")
    write_drift_reference(directory, drift_reference)
    (directory / REVIEW_POLICY_FILENAME).write_text(json.dumps(dataclasses.asdict(review_policy), indent=1) + "\n")
    (directory / SPLITS_DIRNAME).mkdir(exist_ok=True)
    for name in STORED_SPLITS:
        with (directory / SPLITS_DIRNAME / f"{name}.csv").open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(("text", "label"))
            writer.writerows(zip(splits[name].texts, splits[name].labels))
    return directory


def read_split(directory: "str | Path", name: str) -> tuple[list[str], list[str]]:
    """``(texts, labels)`` of a split stored in the checkpoint (``validation`` or ``test``)."""
    path = Path(directory) / SPLITS_DIRNAME / f"{name}.csv"
    if not path.is_file():
        raise TicketClassifierError(
            f"checkpoint {directory} has no stored {name} split ({path}): it was trained by an older "
            "ticket-classifier; train it again, or give held-out data with --data / --parity-data"
        )
    csv.field_size_limit(2**31 - 1)
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return [row["text"] for row in rows], [row["label"] for row in rows]


def check_checkpoint(directory: "str | Path") -> Path:
    """Fail with the missing file's name unless ``directory`` is a complete checkpoint."""
    directory = Path(directory)
    if not directory.is_dir():
        raise TicketClassifierError(f"checkpoint folder not found: {directory}")
    for name in REQUIRED_FILES:
        if not (directory / name).is_file():
            if (directory / PAUSED_STATE_DIRNAME).is_dir() and not (directory / CALIBRATION_FILENAME).is_file():
                raise TicketClassifierError(
                    f"{directory} is a paused training run (--max-steps), not a finished checkpoint: "
                    "run the same train command with --resume to finish it"
                )
            raise TicketClassifierError(f"checkpoint {directory} is incomplete: {name} is missing")
    return directory


def load_checkpoint(directory: "str | Path", **model_options) -> Checkpoint:
    """Load a checkpoint written by :func:`save_checkpoint` (model in eval mode).

    ``model_options`` go to ``from_pretrained`` (for example ``attn_implementation="eager"``).
    """
    from transformers import AutoModelForSequenceClassification
    from transformers.utils import logging as transformers_logging

    import ticket_classifier.training.cnn_student  # noqa: F401  (registers the cnn student's model class)

    transformers_logging.disable_progress_bar()
    directory = check_checkpoint(directory)
    model = AutoModelForSequenceClassification.from_pretrained(directory, **model_options).eval()
    calibration = json.loads((directory / CALIBRATION_FILENAME).read_text())
    return Checkpoint(
        model=model,
        tokenizer=TicketTokenizer.from_directory(directory),
        labels=read_labels(directory),
        temperature=float(calibration["temperature"]),
        directory=directory,
    )


def load_config_snapshot(directory: "str | Path"):
    """The training configuration a checkpoint was trained with."""
    from ticket_classifier.training.config import TrainingConfig

    return load_config(TrainingConfig, Path(directory) / CONFIG_SNAPSHOT_FILENAME)


def read_review_policy(directory: "str | Path"):
    """The review policy the checkpoint's report used (the built-in one for checkpoints that predate it)."""
    from ticket_classifier.runtime.review import ReviewPolicy

    path = Path(directory) / REVIEW_POLICY_FILENAME
    return ReviewPolicy(**json.loads(path.read_text())) if path.is_file() else ReviewPolicy()
