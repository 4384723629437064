"""Losses for imbalanced ticket categories: focal loss with per-class weights, or cross-entropy; and
a supervised contrastive term on the head's input that tightens each category's tickets together
(for the novelty detector, ``optimization.contrastive_weight``)."""

import numpy as np
import torch

from ticket_classifier.errors import TicketClassifierError
from ticket_classifier.training.config import OptimizationConfig


class FocalLoss(torch.nn.Module):
    """Focal loss (Lin et al., 2017): ``-alpha_y (1 - p_y)^gamma log p_y``, averaged over the batch.

    With ``gamma = 0`` it is (weighted) cross-entropy.
    """

    def __init__(self, gamma: float = 2.0, alpha: torch.Tensor | None = None) -> None:
        super().__init__()
        self.gamma = gamma
        self.register_buffer("alpha", alpha if alpha is not None else torch.empty(0))

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """The mean loss of a batch."""
        log_probabilities = torch.log_softmax(logits.float(), dim=-1)
        log_p = log_probabilities.gather(1, targets.unsqueeze(1)).squeeze(1)
        loss = -((1.0 - log_p.exp()) ** self.gamma) * log_p
        if self.alpha.numel():
            loss = loss * self.alpha[targets]
        return loss.mean()


def class_weights(config: OptimizationConfig, labels: list[str], train_labels: list[str]) -> torch.Tensor | None:
    """Per-class weights: inverse class frequency (normalised to mean 1), given ones, or none."""
    if config.class_weights == "none":
        return None
    if isinstance(config.class_weights, dict):
        unknown = sorted(set(config.class_weights) - set(labels))
        if unknown:
            raise TicketClassifierError(f"optimization.class_weights names unknown labels: {', '.join(unknown)}")
        return torch.tensor([config.class_weights.get(label, 1.0) for label in labels], dtype=torch.float32)
    counts = np.array([train_labels.count(label) for label in labels], dtype=np.float64)
    weights = counts.sum() / (len(labels) * counts)
    return torch.tensor(weights / weights.mean(), dtype=torch.float32)


def make_loss(config: OptimizationConfig, labels: list[str], train_labels: list[str]) -> torch.nn.Module:
    """The configured loss function."""
    alpha = class_weights(config, labels, train_labels)
    gamma = config.focal_gamma if config.loss == "focal" else 0.0
    return FocalLoss(gamma=gamma, alpha=alpha)


def supervised_contrastive_loss(features: torch.Tensor, targets: torch.Tensor, temperature: float) -> torch.Tensor:
    """Supervised contrastive loss (Khosla et al., 2020) of one batch, on L2-normalised ``features``.

    Each row with at least one other row of its category in the batch is an anchor: the loss is
    minus the mean log-probability, under a softmax over its cosine similarities to every other
    row (divided by ``temperature``), of the rows of its own category. A batch without such a pair
    gives 0 (with a gradient of zeros, so a step can always go backwards through it).
    """
    z = torch.nn.functional.normalize(features.float(), dim=-1)
    itself = torch.eye(len(targets), dtype=torch.bool, device=features.device)
    similarity = (z @ z.T / temperature).masked_fill(itself, float("-inf"))
    log_probability = similarity - torch.logsumexp(similarity, dim=1, keepdim=True)
    positives = (targets[:, None] == targets[None, :]) & ~itself
    counts = positives.sum(dim=1)
    anchors = counts > 0
    if not anchors.any():
        return features.sum() * 0.0
    mean_positive = log_probability.masked_fill(~positives, 0.0).sum(dim=1)[anchors] / counts[anchors]
    return -mean_positive.mean()
