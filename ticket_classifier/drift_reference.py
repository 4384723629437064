"""The drift reference: what the model's predictions look like on data it was validated on.

Written next to the checkpoint as ``drift_reference.json`` and copied by the repository
builder into the model repository, where the drift sidecar reads it. Format (version 1)::

    {
      "format_version": 1,
      "source": "validation and test splits of <data file>",
      "examples": 300,
      "labels": ["Access", ...],                     # model output order
      "category_shares": {"Access": 0.21, ...},      # share of predicted (top-1) categories
      "confidence_edges": [0.0, 0.1, ..., 1.0],      # equal-width bins of top-1 confidence, (low, high]
      "confidence_shares": [0.0, ..., 0.62]          # share of tickets per bin (sums to 1)
    }

Shares are plain proportions; the sidecar adds its own epsilon for empty bins.
"""

import json
from pathlib import Path

import numpy as np

from ticket_classifier.errors import TicketClassifierError
from ticket_classifier.runtime.contract import DRIFT_REFERENCE_FILENAME
from ticket_classifier.runtime.metrics import confidence_bins

FORMAT_VERSION = 1
CONFIDENCE_BINS = 10
# Below this many predictions the reference itself is noisy enough to make in-distribution
# traffic look drifted: training warns in its report, the sidecar in its log.
DRIFT_REFERENCE_MIN_EXAMPLES = 1000


def drift_reference(probabilities: np.ndarray, labels: list[str], source: str) -> dict:
    """The reference distribution of calibrated ``probabilities`` (one row per ticket)."""
    predicted = probabilities.argmax(axis=1)
    category_counts = np.bincount(predicted, minlength=len(labels))
    edges = np.linspace(0.0, 1.0, CONFIDENCE_BINS + 1)
    confidence_counts = np.bincount(confidence_bins(probabilities.max(axis=1), edges), minlength=CONFIDENCE_BINS)
    total = len(probabilities)
    return {
        "format_version": FORMAT_VERSION,
        "source": source,
        "examples": int(total),
        "labels": list(labels),
        "category_shares": {label: float(count / total) for label, count in zip(labels, category_counts)},
        "confidence_edges": [round(float(edge), 6) for edge in edges],
        "confidence_shares": [float(count / total) for count in confidence_counts],
    }


# Written into a served version's reference by the repository builder when the model has a novelty
# detector: the share of known-category tickets its threshold flags unknown_category (the flag rate).
UNKNOWN_CATEGORY_SHARE = "unknown_category_share"


def write_drift_reference(directory: "str | Path", reference: dict) -> Path:
    """Write the reference JSON into ``directory``."""
    path = Path(directory) / DRIFT_REFERENCE_FILENAME
    path.write_text(json.dumps(reference, indent=1) + "\n", encoding="utf-8")
    return path


def read_drift_reference(path: "str | Path") -> dict:
    """Read and check a reference file."""
    path = Path(path)
    if not path.is_file():
        raise TicketClassifierError(f"drift reference not found: {path}")
    reference = json.loads(path.read_text(encoding="utf-8"))
    if reference.get("format_version") != FORMAT_VERSION:
        raise TicketClassifierError(f"{path}: unsupported drift reference format {reference.get('format_version')!r}")
    return reference
