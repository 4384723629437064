"""What a review policy does to a set of predictions: the share routed automatically and their accuracy.

Used by the training report and by the model card, with the very policy the server applies.
"""

import dataclasses

import numpy as np

from ticket_classifier.runtime.review import ReviewPolicy


def review_outcome(
    probabilities: np.ndarray,
    targets: np.ndarray,
    labels: list[str],
    policy: ReviewPolicy,
    novelty: np.ndarray | None = None,
) -> dict:
    """The share routed automatically (not flagged), their accuracy, and how often each rule fires
    (``novelty``: the tickets' novelty scores, for the ``unknown_category`` rule)."""
    novelty = np.zeros(len(probabilities)) if novelty is None else np.asarray(novelty).reshape(-1)
    findings = [
        policy.evaluate(dict(zip(labels, row.tolist())), float(score)) for row, score in zip(probabilities, novelty)
    ]
    flagged = np.array([bool(found) for found in findings], dtype=bool)
    correct = probabilities.argmax(axis=1) == targets
    routed = int((~flagged).sum())
    rules = [rule for found in findings for rule in {rule for rule, _ in found}]
    return {
        "policy": dataclasses.asdict(policy),
        "threshold": float(policy.confidence_threshold),
        "coverage": routed / len(targets) if len(targets) else 0.0,
        "accuracy": float(correct[~flagged].mean()) if routed else float("nan"),
        "routed": routed,
        "to_review": int(flagged.sum()),
        "by_rule": {rule: rules.count(rule) for rule in sorted(set(rules))},
    }
