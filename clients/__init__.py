"""Thin clients: gRPC/HTTP client over tritonclient, typed predictions, review policy, classify CLI."""
