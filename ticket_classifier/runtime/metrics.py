"""The product metrics' names and confidence bins, shared by the Triton models (which export them),
the drift reference and the sidecar, so that every side spells and bins them the same way.

* ``PREDICTIONS`` (counter): tickets by predicted ``category``;
* ``CONFIDENCE`` (histogram): top-1 confidence, bucketed at the drift reference's bin edges
  (Prometheus series ``_bucket{le}``, ``_sum``, ``_count``);
* ``REVIEW_REQUIRED`` (counter): tickets the review policy flags, each once;
* ``REVIEW_RULES`` (counter): the review rules that fired, by ``rule``; a ticket may fire several,
  so these do not add up to ``REVIEW_REQUIRED``;
* ``REJECTED`` (counter): requests the tokenizer (or the fused pipeline) refused as the sender's
  mistake, by ``reason``.

Every series also has a ``model_version`` label. The Python models create them through
:class:`ProductMetrics` and :class:`RejectionMetrics`, passing their ``triton_python_backend_utils``
module in (only Triton's stub has it).
"""

import json
from pathlib import Path

import numpy as np

from .contract import DRIFT_REFERENCE_FILENAME
from .review import RULES
from .text import REJECTION_REASONS

PREDICTIONS = "ticket_classifier_predictions_total"
CONFIDENCE = "ticket_classifier_confidence"
REVIEW_REQUIRED = "ticket_classifier_review_required_total"
REVIEW_RULES = "ticket_classifier_review_rules_total"
REJECTED = "ticket_classifier_rejected_requests_total"


def confidence_buckets(edges) -> list[float]:
    """The histogram's bucket bounds (``le``) for the bins between consecutive ``edges``: every edge but the first."""
    return [float(edge) for edge in edges[1:]]


def confidence_edges(folder: Path) -> np.ndarray:
    """The confidence bin edges of the drift reference a model version's ``folder`` holds."""
    reference = json.loads((Path(folder) / DRIFT_REFERENCE_FILENAME).read_text(encoding="utf-8"))
    return np.array(reference["confidence_edges"])


def confidence_bins(confidence: np.ndarray, edges) -> np.ndarray:
    """The bin of each confidence, as Prometheus buckets it: bin ``i`` holds ``edges[i] < c <= edges[i + 1]``
    (the first bin also holds ``edges[0]``)."""
    return np.clip(np.searchsorted(np.asarray(edges), confidence, side="left") - 1, 0, len(edges) - 2)


class ProductMetrics:
    """The ranking metrics of one model version: predictions, confidence, review flags and rules."""

    def __init__(self, pb_utils, version: str, label_names, edges) -> None:
        counter = pb_utils.MetricFamily.COUNTER
        predictions = pb_utils.MetricFamily(
            name=PREDICTIONS, description="Tickets classified, by predicted category", kind=counter
        )
        confidence = pb_utils.MetricFamily(
            name=CONFIDENCE, description="Top-1 confidence of classified tickets", kind=pb_utils.MetricFamily.HISTOGRAM
        )
        required = pb_utils.MetricFamily(
            name=REVIEW_REQUIRED, description="Tickets flagged for review by the server-side policy", kind=counter
        )
        rules = pb_utils.MetricFamily(
            name=REVIEW_RULES, description="Review rules that fired, by rule (a ticket may fire several)", kind=counter
        )
        self.families = (predictions, confidence, required, rules)  # a family must outlive its metrics
        labels = {"model_version": version}
        self.categories = [predictions.Metric(labels={"category": label, **labels}) for label in label_names]
        self.confidence = confidence.Metric(labels=labels, buckets=confidence_buckets(edges))
        self.required = required.Metric(labels=labels)
        self.rules = {rule: rules.Metric(labels={"rule": rule, **labels}) for rule in RULES}

    def count_ranking(self, ranking, counted) -> None:
        """Add the rows of a :class:`~runtime.ranking.Ranking` where ``counted`` is True."""
        findings = [found for found, keep in zip(ranking.findings, counted) if keep]
        self.count(ranking.predicted[counted], ranking.confidence[counted], findings)

    def count(self, predicted, confidence, findings) -> None:
        """Add tickets: index of the top label, its confidence, and the review rules that fired, per ticket."""
        for metric, count in zip(self.categories, np.bincount(predicted, minlength=len(self.categories))):
            if count:
                metric.increment(float(count))
        for value in np.asarray(confidence).tolist():
            self.confidence.observe(value)
        flagged = sum(bool(found) for found in findings)
        if flagged:
            self.required.increment(float(flagged))
        fired = [rule for found in findings for rule in {rule for rule, _ in found}]
        for rule in set(fired):
            self.rules[rule].increment(float(fired.count(rule)))

    def close(self) -> None:
        """Release the metrics before their families."""
        self.categories = self.confidence = self.required = self.rules = None
        self.families = None


class RejectionMetrics:
    """Requests refused as the sender's mistake, by reason."""

    def __init__(self, pb_utils, version: str) -> None:
        family = pb_utils.MetricFamily(
            name=REJECTED,
            description="Requests refused as client errors before tokenizing, by reason",
            kind=pb_utils.MetricFamily.COUNTER,
        )
        self.families = (family,)  # a family must outlive its metrics
        self.reasons = {
            reason: family.Metric(labels={"reason": reason, "model_version": version}) for reason in REJECTION_REASONS
        }

    def count(self, reason: str) -> None:
        """One more refused request."""
        self.reasons[reason].increment(1.0)

    def close(self) -> None:
        """Release the metrics before their family."""
        self.reasons = None
        self.families = None
