"""The review policy, at its public import path for client code.

The policy itself lives in :mod:`ticket_classifier.runtime.review`, the module the server runs.
"""

from ticket_classifier.runtime.review import REASON_SEPARATOR, RULES, ReviewPolicy

__all__ = ["REASON_SEPARATOR", "RULES", "ReviewPolicy"]
