"""Bad requests get a client-class error from the real server, over gRPC and HTTP, and others are still served.

Every kind of :mod:`ticket_classifier.reliability.bad_requests` is sent over both protocols;
then raw HTTP bodies, and the accounting: each refused request is counted once.
"""

import re
import threading
import time
import urllib.request

import pytest

from ticket_classifier.reliability.bad_requests import KINDS, RAW_HTTP, UPSTREAM_500, json_body, post, send

pytestmark = [pytest.mark.integration, pytest.mark.reliability]


def test_there_are_at_least_twenty_kinds():
    assert len(KINDS) + len(RAW_HTTP) >= 20


@pytest.mark.parametrize("name", list(KINDS))
@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_bad_request_gets_a_client_error(either_layout_server, protocol, name):
    kind = KINDS[name]
    server = either_layout_server
    url = server.grpc_url if protocol == "grpc" else server.http_url
    status, message = send(protocol, url, kind)
    assert status == (kind.grpc_status if protocol == "grpc" else str(kind.http_status)), message
    assert re.search(kind.message, message), message


def test_a_good_request_is_served_while_bad_ones_arrive(either_layout_server):
    server = either_layout_server
    answers = []

    def flood():
        answers.extend(send("grpc", server.grpc_url, KINDS["field over the limit"])[0] for _ in range(10))

    thread = threading.Thread(target=flood)
    thread.start()
    served = [post(server.http_url, json_body("VPN keeps dropping", "since this morning"))[0] for _ in range(5)]
    thread.join()
    assert served == [200] * 5
    assert answers == ["StatusCode.INVALID_ARGUMENT"] * 10


@pytest.mark.parametrize("name", list(RAW_HTTP))
def test_raw_http_bad_body_gets_400(tiny_server, name):
    body, status, message = RAW_HTTP[name]
    got, text = post(tiny_server.http_url, body)
    assert (got, message in text) == (status, True), text


@pytest.mark.parametrize("name", list(UPSTREAM_500))
def test_unparsable_json_is_triton_s_500_and_the_server_stays_healthy(tiny_server, name):
    body, message = UPSTREAM_500[name]
    status, text = post(tiny_server.http_url, body)
    assert status == 500 and message in text, text
    assert post(tiny_server.http_url, json_body("VPN", "down"))[0] == 200


def test_each_refused_request_is_counted_once(tiny_server, metric_total):
    def counts():
        text = urllib.request.urlopen(tiny_server.metrics_url, timeout=10).read().decode()
        return (
            metric_total(text, "ticket_classifier_rejected_requests_total", reason="too_large"),
            metric_total(text, "nv_inference_request_failure", model="ticket_classifier"),
            metric_total(text, "nv_inference_request_failure", model="ticket_classifier_tokenizer"),
        )

    before = counts()
    for _ in range(3):
        send("grpc", tiny_server.grpc_url, KINDS["field over the limit"])
    deadline = time.monotonic() + 10  # Triton updates its counters after answering: let them settle
    while True:
        rejected, ensemble_failures, tokenizer_failures = (after - start for after, start in zip(counts(), before))
        if (rejected, ensemble_failures, tokenizer_failures) == (3, 6, 0) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert rejected == 3
    # What the recording rules ticket_classifier:requests:rate5m and :server_error_ratio rely on: Triton 2.51
    # counts each failed ensemble request twice (once for the step, once for the ensemble).
    assert ensemble_failures == 6
    assert tokenizer_failures == 0
