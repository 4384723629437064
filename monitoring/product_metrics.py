"""The product metrics' names, shared by the Triton postprocess model (which exports them) and the sidecar.

Standard library only: the repository builder copies this file next to the postprocess model
as ``ticket_metrics.py``, so that both sides spell every metric and label the same way.
"""

PREDICTIONS = "ticket_classifier_predictions_total"
CONFIDENCE = "ticket_classifier_confidence_total"
REVIEW = "ticket_classifier_review_total"


def confidence_bin_names(edges) -> list[str]:
    """The ``bin`` label of each confidence bin between consecutive ``edges`` ("0.9-1.0")."""
    return [f"{low:.1f}-{high:.1f}" for low, high in zip(edges[:-1], edges[1:])]
