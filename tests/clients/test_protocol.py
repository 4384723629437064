"""Client plumbing without a server: retries, ticket validation, splitting, import weight."""

import subprocess
import sys

import pytest
from tritonclient.utils import InferenceServerException

from ticket_classifier.clients.protocol import RetryPolicy, is_retryable, split, ticket_columns
from ticket_classifier.errors import TicketClassifierError


def test_backoff_grows_and_is_capped():
    delays = RetryPolicy(max_attempts=6, initial_backoff_s=0.1, max_backoff_s=0.5).delays()
    assert len(delays) == 5
    assert 0.1 <= delays[0] <= 0.12 and 0.2 <= delays[1] <= 0.24
    assert all(delay <= 0.6 for delay in delays)


def test_one_attempt_means_no_retry():
    assert RetryPolicy(max_attempts=1).delays() == []


def test_bad_retry_settings():
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)


@pytest.mark.parametrize(
    "error, retryable",
    [
        (InferenceServerException("unavailable", status="StatusCode.UNAVAILABLE"), True),
        (InferenceServerException("busy", status="StatusCode.RESOURCE_EXHAUSTED"), True),
        (InferenceServerException("bad input", status="StatusCode.INVALID_ARGUMENT"), False),
        (InferenceServerException("unknown model", status="StatusCode.NOT_FOUND"), False),
        (InferenceServerException("[400] bad request", status="400"), False),
        (InferenceServerException("[503] unavailable", status="503"), True),
        (ConnectionRefusedError("refused"), True),
        (ValueError("oops"), False),
    ],
)
def test_only_unavailable_or_unreachable_is_retried(error, retryable):
    assert is_retryable(error) is retryable


def test_tickets_as_pairs_or_mappings():
    assert ticket_columns([("a", "b"), {"subject": "c", "description": "d"}, {"description": "e"}]) == (
        ["a", "c", ""],
        ["b", "d", "e"],
    )


@pytest.mark.parametrize(
    "tickets, message",
    [
        ([("only one",)], "ticket 0 must be a (subject, description) pair"),
        ([("a", 3)], "must be strings"),
        ([("ok", "fine"), (" ", "")], "ticket 1: subject and description are both empty"),
        (["just a string"], "must be a (subject, description) pair"),
    ],
)
def test_bad_tickets_are_named(tickets, message):
    with pytest.raises(TicketClassifierError, match=message.replace("(", r"\(").replace(")", r"\)")):
        ticket_columns(tickets)


def test_split():
    assert split(list(range(5)), 2) == [[0, 1], [2, 3], [4]]
    assert split([], 3) == []


def test_client_import_pulls_no_heavy_package():
    code = (
        "import sys, ticket_classifier.clients.client, ticket_classifier.clients.async_client, "
        "ticket_classifier.clients.cli; "
        "print(sorted(m for m in ('torch', 'transformers', 'onnxruntime', 'sklearn', 'pandas') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
