"""The label list: written once, by training, read by the build and the server."""

import json
import os
from collections.abc import Sequence
from pathlib import Path

from ticket_classifier.errors import TicketClassifierError
from ticket_classifier.runtime.contract import LABELS_FILENAME


def write_labels(directory: "str | os.PathLike[str]", labels: Sequence[str]) -> Path:
    """Write ``labels`` (index order = model output order) to ``directory/labels.json``."""
    if len(set(labels)) != len(labels) or not labels:
        raise TicketClassifierError(f"labels must be non-empty and unique, got {list(labels)}")
    path = Path(directory) / LABELS_FILENAME
    path.write_text(json.dumps(list(labels), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def read_labels(directory: "str | os.PathLike[str]") -> list[str]:
    """Read the label list written by :func:`write_labels`."""
    path = Path(directory) / LABELS_FILENAME
    if not path.is_file():
        raise TicketClassifierError(f"label file not found: {path}")
    labels = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(labels, list) or not labels or not all(isinstance(label, str) for label in labels):
        raise TicketClassifierError(f"{path} must hold a non-empty JSON list of strings")
    return labels
