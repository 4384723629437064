"""When a prediction must be looked at by a person: the review policy."""

import math
from dataclasses import dataclass


@dataclass
class ReviewPolicy:
    """The ``review`` section of ``configs/production.yaml``."""

    confidence_threshold: float = 0.6

    def __post_init__(self) -> None:
        if not 0.0 <= self.confidence_threshold <= 1.0:
            raise ValueError(f"review.confidence_threshold must lie in [0, 1], got {self.confidence_threshold}")

    def decide(self, scores: dict[str, float]) -> tuple[bool, list[str]]:
        """``(requires_review, reasons)`` for one ticket's label probabilities."""
        if not scores:
            raise ValueError("cannot decide on review without scores")
        if any(math.isnan(score) for score in scores.values()):
            raise ValueError("scores contain NaN")
        category, confidence = max(scores.items(), key=lambda item: item[1])
        reasons = []
        if confidence < self.confidence_threshold:
            reasons.append(f"confidence {confidence:.2f} below threshold {self.confidence_threshold:.2f}")
        return bool(reasons), reasons
