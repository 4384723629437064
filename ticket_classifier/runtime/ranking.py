"""Calibrated probabilities -> the ensemble's answer: category, top-k, ranking, review decision, model version.

One model version's files decide it (labels, model info, review policy), read from the folder
the repository builder wrote them into; the postprocess step and the fused pipeline both rank
here, in one vectorised pass over every ticket of a batch.
"""

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import contract
from .review import REASON_SEPARATOR, ReviewPolicy


@dataclass
class Ranking:
    """The ensemble's outputs for a batch (``outputs``, by contract name) and what the metrics count."""

    outputs: dict[str, np.ndarray]
    predicted: np.ndarray  # index of each ticket's top label
    confidence: np.ndarray  # its calibrated probability
    findings: list  # the review rules that fired, per ticket: [(rule, message), ...]


class Ranker:
    """Ranks labels under one version's review policy."""

    def __init__(self, label_names, model_version: str, policy: ReviewPolicy, top_k: int) -> None:
        self.label_names = list(label_names)
        self.labels = np.array([label.encode("utf-8") for label in self.label_names], dtype=object)
        self.model_version = model_version
        self.policy = policy
        self.top_k = top_k

    @classmethod
    def from_directory(cls, folder: Path, top_k: int) -> "Ranker":
        """The ranker of the version whose files lie in ``folder``."""
        folder = Path(folder)
        labels = _read_json(folder / contract.LABELS_FILENAME)
        info = _read_json(folder / contract.MODEL_INFO_FILENAME)
        policy = ReviewPolicy(**_read_json(folder / contract.REVIEW_POLICY_FILENAME))
        return cls(labels, info["model_version"], policy, top_k)

    def rank(self, probabilities: np.ndarray, novelty: np.ndarray) -> Ranking:
        """The answer for every row of ``probabilities`` ([tickets, labels]) and ``novelty`` ([tickets, 1])."""
        order = np.argsort(-probabilities, axis=1, kind="stable")
        ranked_scores = np.take_along_axis(probabilities, order, axis=1)
        ranked_labels = self.labels[order]
        novelty = np.asarray(novelty, dtype=np.float32).reshape(-1, 1)
        findings = [
            self.policy.evaluate(dict(zip(self.label_names, row.tolist())), float(score))
            for row, score in zip(probabilities, novelty[:, 0])
        ]
        outputs = {
            contract.CATEGORY: ranked_labels[:, :1],
            contract.CONFIDENCE: ranked_scores[:, :1],
            contract.TOP_LABELS: ranked_labels[:, : self.top_k],
            contract.TOP_SCORES: ranked_scores[:, : self.top_k],
            contract.RANKED_LABELS: ranked_labels,
            contract.RANKED_SCORES: ranked_scores,
            contract.REQUIRES_REVIEW: np.array([[bool(found)] for found in findings], dtype=bool).reshape(-1, 1),
            contract.REVIEW_REASONS: np.array(
                [[REASON_SEPARATOR.join(message for _, message in found).encode("utf-8")] for found in findings],
                dtype=object,
            ).reshape(-1, 1),
            contract.MODEL_VERSION: np.full((len(probabilities), 1), self.model_version.encode("utf-8"), dtype=object),
            contract.NOVELTY: novelty,
        }
        return Ranking(outputs, order[:, 0], ranked_scores[:, 0], findings)


def _read_json(path: Path):
    """A JSON file the repository builder wrote."""
    return json.loads(Path(path).read_text(encoding="utf-8"))
