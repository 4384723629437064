"""Classification metrics: the numbers training selects on and the report shows."""

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

from ticket_classifier.errors import TicketClassifierError
from ticket_classifier.review_outcome import review_outcome
from ticket_classifier.training.calibration import expected_calibration_error


def classification_summary(y_true, y_pred) -> dict[str, float]:
    """Accuracy, macro-F1 and weighted F1."""
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, average="macro", zero_division=0)),
        "weighted_f1": float(f1_score(y_true, y_pred, average="weighted", zero_division=0)),
    }


def summary_from_logits(logits: np.ndarray, y_true) -> dict[str, float]:
    """:func:`classification_summary` of the arg-max predictions."""
    return classification_summary(list(y_true), logits.argmax(axis=1).tolist())


def per_class_metrics(y_true, y_pred, labels: list[str]) -> dict[str, dict[str, float]]:
    """Precision, recall, F1 and support of every label."""
    indices = list(range(len(labels)))
    precision, recall, f1, support = precision_recall_fscore_support(y_true, y_pred, labels=indices, zero_division=0)
    return {
        label: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
        for label, p, r, f, s in zip(labels, precision, recall, f1, support)
    }


def coverage_accuracy(probabilities: np.ndarray, targets: np.ndarray, threshold: float) -> dict[str, float]:
    """Tickets routed automatically (confidence >= threshold): their share and their accuracy."""
    confident = probabilities.max(axis=1) >= threshold
    correct = probabilities.argmax(axis=1) == targets
    routed = int(confident.sum())
    return {
        "threshold": float(threshold),
        "coverage": routed / len(targets) if len(targets) else 0.0,
        "accuracy": float(correct[confident].mean()) if routed else float("nan"),
        "routed": routed,
        "to_review": int(len(targets) - routed),
    }


def coverage_curve(probabilities: np.ndarray, targets: np.ndarray, steps: int = 101) -> list[dict[str, float]]:
    """:func:`coverage_accuracy` at evenly spaced thresholds from 0 to 1."""
    return [coverage_accuracy(probabilities, targets, threshold) for threshold in np.linspace(0.0, 1.0, steps)]


def evaluate_predictions(
    probabilities: np.ndarray,
    targets: np.ndarray,
    labels: list[str],
    *,
    critical_categories: list[str],
    review_policy,
    calibration_bins: int,
    novelty: np.ndarray | None = None,
) -> dict:
    """Every metric of the evaluation report for calibrated ``probabilities``; ``review_policy`` is the
    :class:`~ticket_classifier.runtime.review.ReviewPolicy` the served model applies (``novelty``: the
    tickets' novelty scores, for its ``unknown_category`` rule)."""
    unknown = sorted(set(critical_categories) - set(labels))
    if unknown:
        raise TicketClassifierError(f"critical categories unknown to the model: {', '.join(unknown)}")
    predictions = probabilities.argmax(axis=1)
    per_class = per_class_metrics(targets, predictions, labels)
    return {
        **classification_summary(targets, predictions),
        "examples": int(len(targets)),
        "per_class": per_class,
        "critical_recall": {label: per_class[label]["recall"] for label in critical_categories},
        "ece": expected_calibration_error(probabilities, targets, calibration_bins),
        "review": review_outcome(probabilities, targets, labels, review_policy, novelty),
        "confusion_matrix": confusion_matrix(targets, predictions, labels=list(range(len(labels)))).tolist(),
    }
