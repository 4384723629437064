"""Tickets that belong to no trained category: novelty scores and the detector a model carries.

Every score is "higher = more likely unknown":

- ``softmax``: 1 - the top calibrated probability (what the confidence threshold already does);
- ``max_logit``: minus the largest logit;
- ``energy``: minus ``logsumexp(logits)``;
- ``mahalanobis``: the squared Mahalanobis distance of the ticket's features (the input of the
  classification head's last linear layer) to the nearest class mean, under one covariance shared
  by all classes (the training split's within-class covariance, slightly shrunk);
- ``knn``: the cosine distance of the normalised features to their k-th nearest training ticket.

The shipped detector is Mahalanobis (:class:`MahalanobisDetector`): a few matrix products, so it
runs inside the exported ONNX graph. Its threshold is the validation split's in-scope score at the
configured flag rate (default 5 % of known-category tickets flagged).
"""

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ticket_classifier.errors import TicketClassifierError
from ticket_classifier.runtime.review import ReviewPolicy
from ticket_classifier.runtime.tokenization import TicketTokenizer

SCORES = ("softmax", "max_logit", "energy", "mahalanobis", "knn")
SHIPPED_SCORE = "mahalanobis"
DEFAULT_FLAG_RATE = 0.05
KNN_NEIGHBOURS = 10
# Decimals of the served threshold (review_policy.json): the one number reports, model card and server use.
THRESHOLD_DECIMALS = 4
SHRINKAGE = 0.1  # share of the mean variance added to the covariance's diagonal (docs/benchmarks.md, issue 16)
# torch is imported where it is used: the repository builder reads detectors without it.

log = logging.getLogger(__name__)


def check_flag_rate(flag_rate: float) -> float:
    """The in-scope flag rate, which must lie in (0, 0.5)."""
    if not 0.0 < flag_rate < 0.5:
        raise TicketClassifierError(f"the novelty flag rate must be between 0 and 0.5 (exclusive), got {flag_rate}")
    return flag_rate


def head_layer(model):
    """The classification head's last ``torch.nn.Linear`` layer (its outputs are the logits)."""
    import torch

    layers = [
        m for m in model.modules() if isinstance(m, torch.nn.Linear) and m.out_features == model.config.num_labels
    ]
    if not layers:
        raise TicketClassifierError("the model has no linear layer with one output per label")
    return layers[-1]


def features_and_logits(
    model, tokenizer: TicketTokenizer, texts: Sequence[str], *, batch_size: int = 64
) -> tuple[np.ndarray, np.ndarray]:
    """The head's input features and the logits of ``texts`` (rows in input order)."""
    import torch

    head = head_layer(model)
    captured: list = []
    hook = head.register_forward_hook(lambda module, inputs, output: captured.append(inputs[0]))
    order = np.argsort([len(text) for text in texts], kind="stable")
    features = np.zeros((len(texts), head.in_features), dtype=np.float32)
    logits = np.zeros((len(texts), head.out_features), dtype=np.float32)
    model.eval()
    try:
        with torch.inference_mode():
            for start in range(0, len(texts), batch_size):
                rows = order[start : start + batch_size]
                inputs = tokenizer.encode([texts[i] for i in rows])
                captured.clear()
                output = model(**{name: torch.from_numpy(array) for name, array in inputs.items()})
                features[rows] = captured[-1].float().numpy()
                logits[rows] = output.logits.float().numpy()
    finally:
        hook.remove()
    return features, logits


@dataclass
class MahalanobisDetector:
    """Class means and the Cholesky factor of the shared precision matrix, with a threshold.

    The squared distance of ``x`` to class ``c`` is ``|x L - m_c L|^2`` with ``precision = L L^T``;
    it is computed as ``|x L|^2 - 2 (x L) . (m_c L) + |m_c L|^2``, matrix products only.
    """

    means: np.ndarray  # (classes, features)
    precision_factor: np.ndarray  # (features, features), lower triangular
    threshold: float = float("inf")
    flag_rate: float = DEFAULT_FLAG_RATE

    @classmethod
    def fit(cls, features: np.ndarray, targets: np.ndarray, num_classes: int) -> "MahalanobisDetector":
        """Class means and the shrunk within-class covariance of ``features``."""
        features = features.astype(np.float64)
        missing = sorted(set(range(num_classes)) - set(np.unique(targets).tolist()))
        if missing:
            raise TicketClassifierError(f"no training features for classes {missing}")
        means = np.stack([features[targets == c].mean(axis=0) for c in range(num_classes)])
        centred = features - means[targets]
        covariance = centred.T @ centred / max(1, len(features) - num_classes)
        covariance += SHRINKAGE * np.trace(covariance) / len(covariance) * np.eye(len(covariance))
        precision = np.linalg.inv(covariance)
        factor = np.linalg.cholesky((precision + precision.T) / 2)
        return cls(means=means.astype(np.float32), precision_factor=factor.astype(np.float32))

    def score(self, features: np.ndarray) -> np.ndarray:
        """The squared distance to the nearest class mean, per row."""
        projected = features.astype(np.float64) @ self.precision_factor
        centres = self.means.astype(np.float64) @ self.precision_factor
        distances = (
            (projected**2).sum(axis=1, keepdims=True) - 2 * projected @ centres.T + (centres**2).sum(axis=1)[None, :]
        )
        return np.maximum(distances.min(axis=1), 0.0).astype(np.float32)

    def calibrate(self, in_scope_scores: np.ndarray, flag_rate: float) -> "MahalanobisDetector":
        """Set the threshold so that ``flag_rate`` of ``in_scope_scores`` lie above it, rounded to the
        :data:`THRESHOLD_DECIMALS` the served review policy carries (so every report quotes the served number)."""
        self.flag_rate = check_flag_rate(flag_rate)
        self.threshold = round(threshold_at(in_scope_scores, flag_rate), THRESHOLD_DECIMALS)
        return self


def threshold_at(in_scope_scores: np.ndarray, flag_rate: float) -> float:
    """The score above which ``flag_rate`` of the in-scope scores lie."""
    return float(np.quantile(np.asarray(in_scope_scores, dtype=np.float64), 1.0 - check_flag_rate(flag_rate)))


def softmax_score(probabilities: np.ndarray) -> np.ndarray:
    """1 - the top calibrated probability."""
    return 1.0 - probabilities.max(axis=1)


def max_logit_score(logits: np.ndarray) -> np.ndarray:
    """Minus the largest logit."""
    return -logits.max(axis=1)


def energy_score(logits: np.ndarray) -> np.ndarray:
    """Minus the log-sum-exp of the logits (the free energy at temperature 1)."""
    top = logits.max(axis=1)
    return -(top + np.log(np.exp(logits - top[:, None]).sum(axis=1)))


class KnnScorer:
    """Cosine distance to the k-th nearest training ticket (normalised features)."""

    def __init__(self, train_features: np.ndarray, neighbours: int = KNN_NEIGHBOURS) -> None:
        self.bank = _normalised(train_features)
        self.neighbours = min(neighbours, len(self.bank))

    def score(self, features: np.ndarray, chunk: int = 1024) -> np.ndarray:
        """The distance to the k-th nearest neighbour, per row."""
        scores = []
        for start in range(0, len(features), chunk):
            similarity = _normalised(features[start : start + chunk]) @ self.bank.T
            kth = -np.partition(-similarity, self.neighbours - 1, axis=1)[:, self.neighbours - 1]
            scores.append(1.0 - kth)
        return np.concatenate(scores) if scores else np.zeros(0, dtype=np.float32)


def _normalised(features: np.ndarray) -> np.ndarray:
    return features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)


def auroc(in_scope_scores: np.ndarray, unknown_scores: np.ndarray) -> float:
    """Probability that an unknown ticket scores above an in-scope one (ties count half)."""
    from sklearn.metrics import roc_auc_score

    truth = np.concatenate([np.zeros(len(in_scope_scores)), np.ones(len(unknown_scores))])
    return float(roc_auc_score(truth, np.concatenate([in_scope_scores, unknown_scores])))


DETECTOR_FILENAME = "novelty_detector.npz"  # in a checkpoint: means, precision factor, validation scores


def save_detector(directory: "str | Path", detector: MahalanobisDetector, validation_scores: np.ndarray) -> Path:
    """Write the detector and the validation split's in-scope scores (the builder sets the threshold
    from them at ``repository.novelty_flag_rate``)."""
    path = Path(directory) / DETECTOR_FILENAME
    np.savez(
        path,
        means=detector.means,
        precision_factor=detector.precision_factor,
        validation_scores=np.asarray(validation_scores, dtype=np.float32),
    )
    return path


def load_detector(directory: "str | Path", flag_rate: float = DEFAULT_FLAG_RATE) -> MahalanobisDetector | None:
    """The checkpoint's detector with its threshold at ``flag_rate``, or None for a checkpoint
    trained before detectors existed."""
    path = Path(directory) / DETECTOR_FILENAME
    if not path.is_file():
        return None
    try:
        with np.load(path) as stored:
            detector = MahalanobisDetector(stored["means"], stored["precision_factor"])
            return detector.calibrate(stored["validation_scores"], flag_rate)
    except (OSError, KeyError, ValueError) as exc:
        raise TicketClassifierError(f"{path} is not a readable novelty detector: {exc}") from None


def fit_detector(
    model, tokenizer: TicketTokenizer, splits, validation_features: np.ndarray, flag_rate: float = DEFAULT_FLAG_RATE
):
    """The Mahalanobis detector of a trained model, fitted on its training split; returns
    ``(detector calibrated at flag_rate on the validation features, validation scores)``."""
    index = {label: i for i, label in enumerate(splits.labels)}
    features, _ = features_and_logits(model, tokenizer, splits.train.texts)
    detector = MahalanobisDetector.fit(features, np.array([index[label] for label in splits.train.labels]), len(index))
    validation_scores = detector.score(validation_features)
    return detector.calibrate(validation_scores, flag_rate), validation_scores


def served_policy(policy: ReviewPolicy, detector: MahalanobisDetector | None) -> ReviewPolicy:
    """``policy`` as the server applies it: with ``detector``'s threshold for the ``unknown_category`` rule,
    unless the policy names its own ``review.novelty_threshold``; without a detector the rule stays off."""
    if policy.novelty_threshold is not None or detector is None:
        return policy
    return replace(policy, novelty_threshold=detector.threshold)


def with_novelty_threshold(
    policy: ReviewPolicy, checkpoint_dir: "str | Path", flag_rate: float = DEFAULT_FLAG_RATE
) -> tuple[ReviewPolicy, float | None]:
    """:func:`served_policy` with the checkpoint's detector at ``flag_rate``, and the share of known-category
    tickets it flags (the drift monitor's expectation; unknown for an explicit threshold). A checkpoint
    without a detector leaves the rule off, with a warning."""
    if policy.novelty_threshold is not None:
        return policy, None
    detector = load_detector(checkpoint_dir, flag_rate)
    if detector is None:
        log.warning(
            "%s has no novelty detector (trained before they existed): the unknown_category rule is off; "
            "retrain to enable it",
            checkpoint_dir,
        )
        return policy, None
    return served_policy(policy, detector), flag_rate
