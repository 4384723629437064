"""Focal loss and class weights."""

import pytest
import torch

from ticket_classifier.errors import TicketClassifierError
from ticket_classifier.training.config import OptimizationConfig
from ticket_classifier.training.losses import FocalLoss, class_weights, make_loss

LOGITS = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 0.3], [-1.0, 3.0, 0.0]])
TARGETS = torch.tensor([0, 2, 1])


def test_gamma_zero_is_cross_entropy():
    expected = torch.nn.functional.cross_entropy(LOGITS, TARGETS)
    assert torch.allclose(FocalLoss(gamma=0.0)(LOGITS, TARGETS), expected)


def test_focal_loss_down_weights_easy_examples():
    easy = torch.tensor([[5.0, 0.0, 0.0]])
    hard = torch.tensor([[0.0, 0.0, 0.0]])
    target = torch.tensor([0])
    ratio_focal = FocalLoss(gamma=2.0)(easy, target) / FocalLoss(gamma=2.0)(hard, target)
    ratio_ce = FocalLoss(gamma=0.0)(easy, target) / FocalLoss(gamma=0.0)(hard, target)
    assert ratio_focal < ratio_ce / 10


def test_focal_loss_matches_its_formula():
    probabilities = torch.softmax(LOGITS, dim=-1)
    p = probabilities[torch.arange(3), TARGETS]
    alpha = torch.tensor([1.0, 2.0, 0.5])
    expected = (-(alpha[TARGETS]) * (1 - p) ** 2 * torch.log(p)).mean()
    assert torch.allclose(FocalLoss(gamma=2.0, alpha=alpha)(LOGITS, TARGETS), expected)


def test_inverse_frequency_weights_favour_rare_classes():
    weights = class_weights(OptimizationConfig(), ["a", "b"], ["a"] * 9 + ["b"])
    assert weights[1] / weights[0] == pytest.approx(9.0)
    assert weights.mean() == pytest.approx(1.0)


def test_configured_weights_and_none():
    config = OptimizationConfig(class_weights={"b": 3.0})
    assert class_weights(config, ["a", "b"], ["a", "b"]).tolist() == [1.0, 3.0]
    assert class_weights(OptimizationConfig(class_weights="none"), ["a"], ["a"]) is None


def test_weight_for_an_unknown_label_is_an_error():
    with pytest.raises(TicketClassifierError, match="unknown labels: c"):
        class_weights(OptimizationConfig(class_weights={"c": 2.0}), ["a", "b"], ["a", "b"])


def test_cross_entropy_option():
    loss = make_loss(OptimizationConfig(loss="cross_entropy", class_weights="none"), ["a", "b", "c"], ["a", "b", "c"])
    assert torch.allclose(loss(LOGITS, TARGETS), torch.nn.functional.cross_entropy(LOGITS, TARGETS))
