"""Reliability checks of the served stack: bad requests, soak, faults, each with the figure it achieved.

``python -m ticket_classifier.reliability`` (``make reliability``) runs them against a built
repository (``make demo`` builds one) and writes a table and JSON; ``docs/reliability.md``
records a run. The test suite asserts the same behaviours on tiny models.
"""
