"""Client plumbing without a server: retries, ticket validation, splitting, import weight."""

import subprocess
import sys

import pytest
from tritonclient.utils import InferenceServerException

from ticket_classifier.clients.protocol import RetryPolicy, ServingLimits, plan_requests, ticket_columns
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


TIMED_OUT = [
    InferenceServerException("Deadline Exceeded", status="StatusCode.DEADLINE_EXCEEDED"),
    InferenceServerException("[504] gateway timeout", status="504"),
    TimeoutError("timed out"),
]


@pytest.mark.parametrize(
    "error, retryable",
    [
        (InferenceServerException("unavailable", status="StatusCode.UNAVAILABLE"), True),
        (InferenceServerException("message too large", status="StatusCode.RESOURCE_EXHAUSTED"), False),
        (InferenceServerException("bad input", status="StatusCode.INVALID_ARGUMENT"), False),
        (InferenceServerException("unknown model", status="StatusCode.NOT_FOUND"), False),
        (InferenceServerException("[400] bad request", status="400"), False),
        (InferenceServerException("[503] unavailable", status="503"), True),
        (ConnectionRefusedError("refused"), True),
        (ValueError("oops"), False),
    ],
)
def test_only_unavailable_or_unreachable_is_retried(error, retryable):
    assert RetryPolicy().should_retry(error, payload_bytes=10) is retryable


@pytest.mark.parametrize("error", TIMED_OUT)
def test_a_timed_out_request_is_retried_only_when_small(error):
    policy = RetryPolicy(timeout_retry_max_bytes=1000)
    assert policy.should_retry(error, payload_bytes=1000) is True
    assert policy.should_retry(error, payload_bytes=1001) is False
    assert RetryPolicy(timeout_retry_max_bytes=0).should_retry(error, payload_bytes=1) is False


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
        ([("ok", "fine"), (" ", "")], "ticket 1: subject and description have no text"),
        ([("\u200b\u200d", "\x00\x00\x07")], "ticket 0: subject and description have no text"),
        (["just a string"], "must be a (subject, description) pair"),
    ],
)
def test_bad_tickets_are_named(tickets, message):
    with pytest.raises(TicketClassifierError, match=message.replace("(", r"\(").replace(")", r"\)")):
        ticket_columns(tickets)


def test_requests_respect_the_batch_size_and_the_request_bytes():
    limits = ServingLimits(max_batch_size=2, max_field_bytes=10, max_request_bytes=12)
    plans = plan_requests(["a", "b", "c", "dddddd"], ["1", "2", "3", "444444"], limits)
    assert [(plan.subjects, plan.descriptions) for plan in plans] == [
        ([b"a", b"b"], [b"1", b"2"]),
        ([b"c"], [b"3"]),
        ([b"dddddd"], [b"444444"]),
    ]
    assert [plan.payload_bytes for plan in plans] == [4, 2, 12]
    assert plan_requests([], [], limits) == []


def test_an_oversized_field_is_refused_before_sending_naming_the_ticket():
    limits = ServingLimits(max_batch_size=8, max_field_bytes=4, max_request_bytes=100)
    with pytest.raises(TicketClassifierError, match="ticket 1: description is 6 bytes, over the limit of 4 bytes"):
        plan_requests(["a", "b"], ["1", "é" * 3], limits)


def test_limits_come_from_the_served_configuration():
    config = {
        "max_batch_size": 16,
        "parameters": {"max_field_bytes": {"string_value": "100"}, "max_request_bytes": {"string_value": "1000"}},
    }
    assert ServingLimits.from_model_config(config) == ServingLimits(16, 100, 1000)
    unlimited = ServingLimits.from_model_config({"max_batch_size": 0})
    assert unlimited.max_batch_size == 1 and unlimited.max_field_bytes > 2**40


def test_client_import_pulls_no_heavy_package():
    code = (
        "import sys, ticket_classifier.clients.client, ticket_classifier.clients.async_client, "
        "ticket_classifier.commands.classify; "
        "print(sorted(m for m in ('torch', 'transformers', 'onnxruntime', 'sklearn', 'pandas') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
