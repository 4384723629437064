"""Classification metrics used during training and in reports."""

from collections.abc import Sequence

import numpy as np
from sklearn.metrics import accuracy_score, f1_score


def classification_summary(y_true: Sequence[int], y_pred: Sequence[int]) -> dict[str, float]:
    """Accuracy, macro-F1 and weighted F1."""
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, average="macro", zero_division=0)),
        "weighted_f1": float(f1_score(y_true, y_pred, average="weighted", zero_division=0)),
    }


def summary_from_logits(logits: np.ndarray, y_true: Sequence[int]) -> dict[str, float]:
    """:func:`classification_summary` of the arg-max predictions."""
    return classification_summary(list(y_true), logits.argmax(axis=1).tolist())
