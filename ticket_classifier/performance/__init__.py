"""Serving performance: load generators, the in-process ceiling, peer services and Triton's counters.

Used by ``ticket-classifier benchmark-serving`` and ``ticket-classifier tune``.
"""
