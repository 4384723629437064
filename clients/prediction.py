"""Typed prediction results returned by the clients."""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Prediction:
    """One classified ticket."""

    category: str
    confidence: float
    top_k: list[tuple[str, float]]
    requires_review: bool
    review_reasons: list[str]
    model_version: str
    novelty: float = 0.0  # distance to the nearest known category; high: likely none of them (0: no detector)
    review_policy: str = "server"  # who decided requires_review: the served model, or a client-side override
    scores: dict[str, float] = field(default_factory=dict, repr=False)

    def to_dict(self) -> dict:
        """The JSON shape of the original REST API."""
        return {
            "category": self.category,
            "confidence": round(self.confidence, 6),
            "top_3_predictions": [
                {"category": label, "confidence": round(score, 6)} for label, score in self.top_k[:3]
            ],
            "requires_review": self.requires_review,
            "review_reasons": list(self.review_reasons),
            "review_policy": self.review_policy,
            "model_version": self.model_version,
            "novelty": round(self.novelty, 4),
        }
