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


def test_contrastive_loss_is_lower_when_each_category_is_tight():
    from ticket_classifier.training.losses import supervised_contrastive_loss

    targets = torch.tensor([0, 0, 1, 1])
    tight = torch.tensor([[1.0, 0.0], [0.99, 0.1], [0.0, 1.0], [0.1, 0.99]])
    mixed = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.99, 0.1], [0.1, 0.99]])
    assert supervised_contrastive_loss(tight, targets, 0.1) < supervised_contrastive_loss(mixed, targets, 0.1)
    # the scale of a feature does not matter (cosine similarity)
    assert torch.allclose(
        supervised_contrastive_loss(tight * 5, targets, 0.1), supervised_contrastive_loss(tight, targets, 0.1)
    )


def test_contrastive_loss_matches_its_formula_on_one_anchor_pair():
    from ticket_classifier.training.losses import supervised_contrastive_loss

    features = torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]])
    targets = torch.tensor([0, 0, 1])
    z = torch.nn.functional.normalize(features, dim=-1)
    # anchors 0 and 1 (each the other's only positive); row 2 has no positive and is no anchor
    expected = -torch.stack(
        [
            torch.log_softmax(torch.stack([z[0] @ z[1], z[0] @ z[2]]) / 0.5, dim=0)[0],
            torch.log_softmax(torch.stack([z[1] @ z[0], z[1] @ z[2]]) / 0.5, dim=0)[0],
        ]
    ).mean()
    assert torch.allclose(supervised_contrastive_loss(features, targets, 0.5), expected)


def test_contrastive_loss_without_a_pair_is_zero_and_differentiable():
    from ticket_classifier.training.losses import supervised_contrastive_loss

    features = torch.randn(3, 4, requires_grad=True)
    loss = supervised_contrastive_loss(features, torch.tensor([0, 1, 2]), 0.1)
    loss.backward()
    assert loss.item() == 0.0 and features.grad is not None and not features.grad.any()


@pytest.mark.parametrize(
    "field, value, message",
    [("contrastive_weight", -0.1, "contrastive_weight must not be negative"),
     ("contrastive_temperature", 0.0, "contrastive_temperature must be positive")],
)  # fmt: skip
def test_bad_contrastive_settings_are_refused(field, value, message):
    with pytest.raises(ValueError, match=message):
        OptimizationConfig(**{field: value})
