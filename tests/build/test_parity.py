"""The parity gates' arithmetic, on probabilities made by hand (no ONNX needed)."""

import numpy as np
import pytest

from ticket_classifier.build.parity import GATES, Gate, enforce_gates, judge, measure, review_decisions
from ticket_classifier.clients.review import ReviewPolicy
from ticket_classifier.errors import TicketClassifierError

LABELS = ["Access", "Email", "Security"]
POLICY = ReviewPolicy(confidence_threshold=0.6, margin_threshold=0.0, critical_categories={"Security": 0.3})
REFERENCE = np.array([[0.9, 0.05, 0.05], [0.5, 0.45, 0.05], [0.1, 0.2, 0.7], [0.6, 0.1, 0.3]])


def test_identical_probabilities_agree_fully():
    measured = measure(REFERENCE, REFERENCE, LABELS, POLICY)
    assert measured == {"top1_agreement": 1.0, "mean_probability_difference": 0.0, "review_agreement": 1.0}
    assert judge(measured, GATES["fp32"]) == []


def test_review_decisions_follow_the_policy():
    # row 1: confidence 0.5 < 0.6; row 3: Security 0.3 is critical and not top-1
    assert review_decisions(REFERENCE, LABELS, POLICY).tolist() == [False, True, False, True]


def test_a_lost_temperature_keeps_every_top1_and_moves_the_probabilities():
    flattened = np.exp(np.log(REFERENCE) / 4)
    flattened /= flattened.sum(axis=1, keepdims=True)
    measured = measure(flattened, REFERENCE, LABELS, POLICY)
    assert measured["top1_agreement"] == 1.0
    assert measured["mean_probability_difference"] == pytest.approx(np.abs(flattened - REFERENCE).mean())
    assert measured["review_agreement"] == 0.5  # rows 0 and 2 fall below the 0.6 threshold
    failures = judge(measured, GATES["int8"])
    assert len(failures) == 2
    assert failures[0].startswith("mean probability difference") and failures[1].startswith("review-decision agreement")


def test_a_flipped_top1_is_counted():
    flipped = REFERENCE.copy()
    flipped[1] = [0.45, 0.5, 0.05]
    measured = measure(flipped, REFERENCE, LABELS, POLICY)
    assert measured["top1_agreement"] == 0.75
    assert measured["mean_probability_difference"] == pytest.approx(0.1 / 12)


GATE = Gate(top1_agreement=0.999, mean_probability_difference=1e-4, review_agreement=0.999)
AT_THE_GATE = {"top1_agreement": 0.999, "mean_probability_difference": 1e-4, "review_agreement": 0.999}


@pytest.mark.parametrize(
    "change, failure",
    [
        ({}, None),
        ({"top1_agreement": 0.9989}, "top-1 agreement 0.9989 < gate 0.999"),
        ({"mean_probability_difference": 1.01e-4}, "mean probability difference 1.01e-04 > gate 0.0001"),
        ({"review_agreement": 0.9989}, "review-decision agreement 0.9989 < gate 0.999"),
    ],
)
def test_each_gate_is_inclusive_at_its_threshold(change, failure):
    assert judge({**AT_THE_GATE, **change}, GATE) == ([failure] if failure else [])


def test_enforce_gates_names_every_failing_variant():
    results = [
        {"precision": "fp32", "passed": True, "failures": []},
        {"precision": "int8", "passed": False, "failures": ["top-1 agreement 0.9 < gate 0.99"]},
    ]
    with pytest.raises(TicketClassifierError, match=r"parity gate failed \(int8: top-1 agreement 0.9 < gate 0.99\)"):
        enforce_gates(results, "report.json")
    enforce_gates(results[:1], "report.json")
