"""The product metrics' names and confidence bins, shared by the Triton models (which export them),
the drift reference and the sidecar, so that every side spells and bins them the same way.

* ``PREDICTIONS`` (counter): tickets by predicted ``category``;
* ``CONFIDENCE`` (histogram): top-1 confidence, bucketed at the drift reference's bin edges
  (Prometheus series ``_bucket{le}``, ``_sum``, ``_count``);
* ``REVIEW_REQUIRED`` (counter): tickets the review policy flags, each once;
* ``REVIEW_RULES`` (counter): the review rules that fired, by ``rule``; a ticket may fire several,
  so these do not add up to ``REVIEW_REQUIRED``;
* ``REJECTED`` (counter): requests the tokenizer refused as the sender's mistake, by ``reason``.

Every series also has a ``model_version`` label.
"""

import numpy as np

PREDICTIONS = "ticket_classifier_predictions_total"
CONFIDENCE = "ticket_classifier_confidence"
REVIEW_REQUIRED = "ticket_classifier_review_required_total"
REVIEW_RULES = "ticket_classifier_review_rules_total"
REJECTED = "ticket_classifier_rejected_requests_total"


def confidence_buckets(edges) -> list[float]:
    """The histogram's bucket bounds (``le``) for the bins between consecutive ``edges``: every edge but the first."""
    return [float(edge) for edge in edges[1:]]


def confidence_bins(confidence: np.ndarray, edges) -> np.ndarray:
    """The bin of each confidence, as Prometheus buckets it: bin ``i`` holds ``edges[i] < c <= edges[i + 1]``
    (the first bin also holds ``edges[0]``)."""
    return np.clip(np.searchsorted(np.asarray(edges), confidence, side="left") - 1, 0, len(edges) - 2)
