"""Evaluation metrics: per class, critical recall, the review trade-off."""

import numpy as np
import pytest

from ticket_classifier.errors import TicketClassifierError
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
        PROBABILITIES, TARGETS, LABELS, critical_categories=["Security"], review_threshold=0.6, calibration_bins=15
    )
    assert result["accuracy"] == 0.75
    assert result["critical_recall"] == {"Security": 0.5}
    assert result["per_class"]["Email"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 1}
    assert np.array(result["confusion_matrix"]).sum() == 4


def test_unknown_critical_category_is_an_error():
    with pytest.raises(TicketClassifierError, match="critical categories unknown to the model: Fraud"):
        evaluate_predictions(
            PROBABILITIES, TARGETS, LABELS, critical_categories=["Fraud"], review_threshold=0.6, calibration_bins=15
        )
