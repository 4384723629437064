"""Evaluation metrics: per class, critical recall, the review trade-off."""

import numpy as np
import pytest

from ticket_classifier.clients.review import ReviewPolicy
from ticket_classifier.errors import TicketClassifierError
from ticket_classifier.review_outcome import review_outcome
from ticket_classifier.training.metrics import coverage_accuracy, coverage_curve, evaluate_predictions

PROBABILITIES = np.array([[0.9, 0.1, 0.0], [0.2, 0.7, 0.1], [0.5, 0.1, 0.4], [0.1, 0.1, 0.8]])
TARGETS = np.array([0, 1, 2, 2])
LABELS = ["Access", "Email", "Security"]


def test_coverage_at_a_threshold():
    result = coverage_accuracy(PROBABILITIES, TARGETS, 0.6)
    assert result["coverage"] == 0.75 and result["accuracy"] == 1.0 and result["to_review"] == 1


def test_nothing_routed_gives_nan_accuracy():
    assert np.isnan(coverage_accuracy(PROBABILITIES, TARGETS, 0.99)["accuracy"])


def test_curve_spans_zero_to_one():
    curve = coverage_curve(PROBABILITIES, TARGETS, steps=11)
    assert curve[0]["coverage"] == 1.0 and curve[-1]["coverage"] == 0.0


def test_full_evaluation():
    result = evaluate_predictions(
        PROBABILITIES,
        TARGETS,
        LABELS,
        critical_categories=["Security"],
        review_policy=ReviewPolicy(margin_threshold=0.0),
        calibration_bins=15,
    )
    assert result["accuracy"] == 0.75
    assert result["critical_recall"] == {"Security": 0.5}
    assert result["per_class"]["Email"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 1}
    assert np.array(result["confusion_matrix"]).sum() == 4


def test_unknown_critical_category_is_an_error():
    with pytest.raises(TicketClassifierError, match="critical categories unknown to the model: Fraud"):
        evaluate_predictions(
            PROBABILITIES,
            TARGETS,
            LABELS,
            critical_categories=["Fraud"],
            review_policy=ReviewPolicy(margin_threshold=0.0),
            calibration_bins=15,
        )


def test_the_report_s_review_numbers_follow_the_served_policy():
    # Row 2 (Access 0.5 vs Security 0.4): low confidence, small margin, and Security is critical from 0.3.
    policy = ReviewPolicy(confidence_threshold=0.6, margin_threshold=0.15, critical_categories={"Security": 0.3})
    outcome = review_outcome(PROBABILITIES, TARGETS, LABELS, policy)
    assert outcome["to_review"] == 1 and outcome["routed"] == 3 and outcome["coverage"] == 0.75
    assert outcome["accuracy"] == 1.0
    assert outcome["by_rule"] == {"confidence": 1, "critical": 1, "margin": 1}
    assert outcome["policy"]["critical_categories"] == {"Security": 0.3}
    strict = review_outcome(PROBABILITIES, TARGETS, LABELS, ReviewPolicy(confidence_threshold=0.85, margin_threshold=0))
    assert strict["routed"] == 1 and strict["by_rule"] == {"confidence": 3}
