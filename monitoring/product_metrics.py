"""The product metrics' names, shared by the Triton models (which export them) and the sidecar.

Standard library only: the repository builder copies this file next to the tokenizer and
postprocess models as ``ticket_metrics.py``, so that every side spells each metric and label
the same way.
"""

PREDICTIONS = "ticket_classifier_predictions_total"
CONFIDENCE = "ticket_classifier_confidence_total"
REVIEW = "ticket_classifier_review_total"
REJECTED = "ticket_classifier_rejected_requests_total"
# An inference request carrying this request parameter (any value) is a health probe: it runs
# through every step, but the postprocess model leaves it out of the product counters.
HEALTH_PROBE_PARAMETER = "ticket_classifier_health_probe"


def confidence_bin_names(edges) -> list[str]:
    """The ``bin`` label of each confidence bin between consecutive ``edges`` ("0.9-1.0")."""
    return [f"{low:.1f}-{high:.1f}" for low, high in zip(edges[:-1], edges[1:])]
