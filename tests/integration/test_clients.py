"""Sync and async clients, gRPC and HTTP, against the real server."""

import asyncio
import urllib.request

import pytest

from ticket_classifier.clients.async_client import AsyncTicketClassifierClient
from ticket_classifier.clients.client import TicketClassifierClient
from ticket_classifier.clients.protocol import RetryPolicy
from ticket_classifier.clients.review import ReviewPolicy
from ticket_classifier.errors import TicketClassifierError
from ticket_classifier.server import free_port
from ticket_classifier.training.demo_data import generate_tickets

pytestmark = pytest.mark.integration
PROTOCOLS = ["grpc", "http"]


def url_for(server, protocol):
    return server.grpc_url if protocol == "grpc" else server.http_url


@pytest.fixture(scope="module")
def many_tickets():
    """More tickets than the server's max_batch_size (64)."""
    return [(ticket.subject, ticket.description) for ticket in generate_tickets(150, seed=21)]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_sync_client_splits_large_batches_and_keeps_order(tiny_server, protocol, many_tickets):
    with TicketClassifierClient(url_for(tiny_server, protocol), protocol=protocol) as client:
        assert client.is_live() and client.is_ready()
        assert client.max_batch_size() == 64
        batch = client.classify_batch(many_tickets)
        singles = [client.classify(*ticket) for ticket in many_tickets[:5]]
    assert len(batch) == 150
    assert [p.category for p in batch[:5]] == [p.category for p in singles]
    assert all(abs(p.confidence - batch[i].confidence) < 1e-5 for i, p in enumerate(singles))


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_async_client_matches_the_sync_client(tiny_server, protocol, many_tickets):
    async def run():
        async with AsyncTicketClassifierClient(url_for(tiny_server, protocol), protocol=protocol) as client:
            assert await client.is_ready()
            batch = await client.classify_batch(many_tickets)
            single = await client.classify(*many_tickets[0])
            concurrent = await asyncio.gather(*(client.classify(*ticket) for ticket in many_tickets[:10]))
            return batch, single, concurrent

    batch, single, concurrent = asyncio.run(run())
    with TicketClassifierClient(url_for(tiny_server, protocol), protocol=protocol) as client:
        expected = client.classify_batch(many_tickets)
    assert [p.category for p in batch] == [p.category for p in expected]
    assert single.category == expected[0].category
    assert [p.category for p in concurrent] == [p.category for p in expected[:10]]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_client_side_policy_is_an_explicit_override_marked_as_such(tiny_server, protocol):
    url = url_for(tiny_server, protocol)
    with TicketClassifierClient(url, protocol=protocol) as client:
        served = client.classify("VPN down", "cannot connect")
    # thresholds just above and just below the served confidence: the client's own policy decides
    above = ReviewPolicy(confidence_threshold=served.confidence + 1e-3, margin_threshold=0.0)
    below = ReviewPolicy(confidence_threshold=served.confidence - 1e-3, margin_threshold=0.0)
    with TicketClassifierClient(url, protocol=protocol, review_policy=above) as client:
        flagged = client.classify("VPN down", "cannot connect")
    with TicketClassifierClient(url, protocol=protocol, review_policy=below) as client:
        passed = client.classify("VPN down", "cannot connect")
    assert flagged.requires_review and len(flagged.review_reasons) == 1
    shown, limit = flagged.review_reasons[0].removeprefix("confidence ").split(" below the threshold ")
    assert float(shown) < float(limit) == pytest.approx(above.confidence_threshold, abs=1e-3)  # told apart
    assert not passed.requires_review and passed.review_reasons == []
    assert flagged.category == passed.category == served.category
    assert flagged.review_policy == passed.review_policy == "client" and flagged.to_dict()["review_policy"] == "client"
    assert served.review_policy == "server"


def test_an_override_naming_an_unknown_category_is_reported(tiny_server):
    policy = ReviewPolicy(critical_categories={"Fraud": 0.1})
    with TicketClassifierClient(tiny_server.grpc_url, review_policy=policy) as client:
        with pytest.raises(TicketClassifierError, match="review.critical_categories: Fraud"):
            client.classify("VPN down", "cannot connect")


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_unreachable_server_is_retried_then_reported(protocol):
    url = f"127.0.0.1:{free_port()}"
    retry = RetryPolicy(max_attempts=3, initial_backoff_s=0.01, max_backoff_s=0.02)
    with TicketClassifierClient(url, protocol=protocol, retry=retry, timeout_s=2) as client:
        assert not client.is_live()
        with pytest.raises(
            TicketClassifierError, match=f"cannot reach Triton at {url} \\({protocol}\\) after 3 attempts"
        ):
            client.classify("VPN", "down")


def test_async_unreachable_server_is_retried_then_reported():
    url = f"127.0.0.1:{free_port()}"
    retry = RetryPolicy(max_attempts=2, initial_backoff_s=0.01, max_backoff_s=0.02)

    async def run():
        async with AsyncTicketClassifierClient(url, retry=retry, timeout_s=2) as client:
            await client.classify("VPN", "down")

    with pytest.raises(TicketClassifierError, match="after 2 attempts"):
        asyncio.run(run())


def test_invalid_argument_is_not_retried(tiny_server):
    retry = RetryPolicy(max_attempts=5, initial_backoff_s=0.01, max_backoff_s=0.02)
    with TicketClassifierClient(tiny_server.grpc_url, retry=retry, model_name="no_such_model") as client:
        with pytest.raises(TicketClassifierError) as error:
            client.classify("VPN", "down")
    assert "attempts" not in str(error.value)
    assert "not ready" in str(error.value)


def test_bad_ticket_is_rejected_before_sending(tiny_server):
    with TicketClassifierClient(tiny_server.grpc_url) as client:
        with pytest.raises(TicketClassifierError, match="ticket 1: subject and description have no text"):
            client.classify_batch([("VPN", "down"), ("", " ")])


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_oversized_ticket_is_refused_before_sending_with_the_server_s_limit(tiny_server, protocol, metric_total):
    url = tiny_server.grpc_url if protocol == "grpc" else tiny_server.http_url
    metrics = lambda: urllib.request.urlopen(tiny_server.metrics_url, timeout=10).read().decode()  # noqa: E731
    before = metric_total(metrics(), "nv_inference_request_failure", model="ticket_classifier")
    with TicketClassifierClient(url, protocol=protocol) as client:
        limits = client.limits()
        assert limits.max_field_bytes == 65536 and limits.max_request_bytes == 1048576
        with pytest.raises(
            TicketClassifierError, match="ticket 1: description is 65537 bytes, over the limit of 65536"
        ):
            client.classify_batch([("VPN", "down"), ("huge", "x" * 65537)])
        # Many tickets that fit one by one but not in one request go as several requests.
        predictions = client.classify_batch([("VPN", "x" * 60000)] * 20)
    assert len(predictions) == 20
    assert metric_total(metrics(), "nv_inference_request_failure", model="ticket_classifier") == before


def test_a_timed_out_request_is_sent_again_only_when_small(tiny_server):
    retry = RetryPolicy(max_attempts=3, initial_backoff_s=0.01, max_backoff_s=0.02, timeout_retry_max_bytes=100)
    with TicketClassifierClient(tiny_server.grpc_url, retry=retry) as client:
        client.limits()  # asked once, before the timeout becomes too short for anything
        client.timeout_s = 0.0005
        with pytest.raises(TicketClassifierError) as large:
            client.classify("big", "printer jammed " * 100)
        with pytest.raises(TicketClassifierError) as small:
            client.classify("VPN", "down")
    assert "attempts" not in str(large.value)
    assert "after 3 attempts" in str(small.value)


def test_malformed_url_and_protocol():
    with pytest.raises(TicketClassifierError, match="protocol must be grpc or http"):
        TicketClassifierClient("localhost:1", protocol="ftp")
