"""When a prediction must be looked at by a person: the review policy.

Four rules, each adding a reason (a ticket needs review when any rule fires):

* **confidence**: the top-1 probability is below the category's threshold
  (``category_thresholds``) or, for categories without one, ``confidence_threshold``;
* **margin**: top-1 minus top-2 probability is below ``margin_threshold``; an exact tie for
  the top place always needs review, whatever the margin threshold;
* **critical**: a critical category's probability reaches its own, low threshold
  (``critical_categories``) while it is *not* the top-1 prediction, so that, say, a
  possible security incident is never silently routed elsewhere;
* **unknown_category**: the ticket's novelty score (distance to the nearest trained category)
  exceeds ``novelty_threshold``, which the repository builder sets from the model's novelty
  detector at ``repository.novelty_flag_rate``; ``None`` (no detector) never fires;
* the scores must be finite probabilities: NaN or an empty score map is an error
  (``ValueError``), never a silent decision.

Standard library only: the Triton postprocess model runs this file (see the runtime package)
and applies the policy server-side, for the review metrics and the ensemble's
``REQUIRES_REVIEW`` output.
"""

import math
from dataclasses import dataclass, field

RULES = ("confidence", "margin", "tie", "critical", "unknown_category")
# How the served model joins a ticket's review reasons into its one REVIEW_REASONS string.
REASON_SEPARATOR = "; "


@dataclass
class ReviewPolicy:
    """The ``review`` section of ``configs/production.yaml``."""

    confidence_threshold: float = 0.6
    category_thresholds: dict[str, float] = field(default_factory=dict)
    critical_categories: dict[str, float] = field(default_factory=dict)
    margin_threshold: float = 0.1
    novelty_threshold: float | None = None  # set by the repository builder from the model's detector

    def __post_init__(self) -> None:
        if self.novelty_threshold is not None and not (
            isinstance(self.novelty_threshold, (int, float)) and math.isfinite(self.novelty_threshold)
        ):
            raise ValueError(f"review.novelty_threshold must be a finite number, got {self.novelty_threshold}")
        values = {"confidence_threshold": self.confidence_threshold, "margin_threshold": self.margin_threshold}
        values.update({f"category_thresholds.{k}": v for k, v in self.category_thresholds.items()})
        values.update({f"critical_categories.{k}": v for k, v in self.critical_categories.items()})
        for name, value in values.items():
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"review.{name} must lie in [0, 1], got {value}")

    def check_labels(self, labels: list[str]) -> None:
        """Fail, naming them, when the policy mentions categories the model does not have."""
        unknown = {
            key: sorted(set(getattr(self, key)) - set(labels))
            for key in ("critical_categories", "category_thresholds")
            if set(getattr(self, key)) - set(labels)
        }
        if unknown:
            named = "; ".join(f"review.{key}: {', '.join(names)}" for key, names in unknown.items())
            raise ValueError(
                f"the review policy names categories the model does not know ({named}); the model's "
                f"categories are: {', '.join(labels)}. Fix those keys of the review section, or give "
                "another policy with --review-policy FILE"
            )

    def decide(self, scores: dict[str, float], novelty: float = 0.0) -> tuple[bool, list[str]]:
        """``(requires_review, reasons)`` for one ticket's label probabilities and novelty score."""
        findings = self.evaluate(scores, novelty)
        return bool(findings), [message for _, message in findings]

    def evaluate(self, scores: dict[str, float], novelty: float = 0.0) -> list[tuple[str, str]]:
        """Every rule that fires, as ``(rule, message)`` with ``rule`` one of :data:`RULES`."""
        if not scores:
            raise ValueError("cannot decide on review without scores")
        bad = [label for label, score in scores.items() if not math.isfinite(score)]
        if bad:
            raise ValueError(f"scores are not finite numbers for: {', '.join(sorted(bad))}")
        ranked = sorted(scores.items(), key=lambda item: (-item[1], item[0]))
        category, confidence = ranked[0]
        runner_up = ranked[1][1] if len(ranked) > 1 else 0.0
        findings = []
        threshold = self.category_thresholds.get(category, self.confidence_threshold)
        if confidence < threshold:
            whose = f"the {category} threshold" if category in self.category_thresholds else "the threshold"
            shown, limit = _apart(confidence, threshold, 2)
            findings.append(("confidence", f"confidence {shown} below {whose} {limit}"))
        if len(ranked) > 1 and confidence == runner_up:
            findings.append(("tie", f"tie between {category} and {ranked[1][0]} at {confidence:.2f}"))
        elif len(ranked) > 1 and confidence - runner_up < self.margin_threshold:
            shown, limit = _apart(confidence - runner_up, self.margin_threshold, 2)
            findings.append(("margin", f"margin {shown} to {ranked[1][0]} below {limit}"))
        for critical, minimum in sorted(self.critical_categories.items()):
            probability = scores.get(critical, 0.0)
            if critical != category and probability >= minimum:
                shown, limit = _apart(probability, minimum, 2)
                findings.append(("critical", f"critical category {critical} at {shown} (flag from {limit})"))
        if self.novelty_threshold is not None and novelty > self.novelty_threshold:
            shown, limit = _apart(novelty, self.novelty_threshold, 1)
            findings.append(("unknown_category", f"unknown category: novelty {shown} above {limit}"))
        return findings


def _apart(value: float, limit: float, decimals: int) -> tuple[str, str]:
    """``value`` and ``limit`` written with ``decimals`` decimals, or with as many more as it takes to show
    two different numbers as two (0.597 below 0.600, not 0.60 below 0.60); equal numbers keep ``decimals``."""
    if value == limit:
        return f"{value:.{decimals}f}", f"{limit:.{decimals}f}"
    for places in range(decimals, 10):
        shown = f"{value:.{places}f}", f"{limit:.{places}f}"
        if shown[0] != shown[1]:
            return shown
    return repr(value), repr(limit)
