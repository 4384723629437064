"""Bad requests get a client-class error from the real server, over gRPC and HTTP, and others are still served.

Each kind is one row of ``KINDS``: the request's inputs (and model, version, outputs), the
expected gRPC status and HTTP status, and the message. Then raw HTTP bodies that only the HTTP
API can receive, and the accounting: each refused request is counted once.
"""

import json
import re
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass, field

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

from ticket_classifier.build.model_configs import RepositoryOptions

pytestmark = pytest.mark.integration

LIMITS = RepositoryOptions()
FIELD_LIMIT, REQUEST_LIMIT = LIMITS.max_field_bytes, LIMITS.max_request_bytes


@dataclass
class Kind:
    """One kind of bad request."""

    inputs: list  # [(name, values, datatype, shape)]
    grpc_status: str
    http_status: int
    message: str
    model: str = "ticket_classifier"
    version: str = ""
    outputs: list = field(default_factory=list)


def texts(subjects, descriptions):
    """The two text inputs, one ticket per row."""
    return [
        ("SUBJECT", subjects, "BYTES", [len(subjects), 1]),
        ("DESCRIPTION", descriptions, "BYTES", [len(descriptions), 1]),
    ]


INVALID, NOT_FOUND = "StatusCode.INVALID_ARGUMENT", "StatusCode.NOT_FOUND"
KINDS = {
    "empty": Kind(texts([b""], [b""]), INVALID, 400, "have no text"),
    "whitespace only": Kind(texts([b"  \t"], [b"\n \r\n"]), INVALID, 400, "have no text"),
    "zero-width only": Kind(texts(["\u200b\u200c".encode()], ["\u200d\ufeff".encode()]), INVALID, 400, "have no text"),
    "NUL only": Kind(texts([b"\x00\x00"], [b"\x00"]), INVALID, 400, "have no text"),
    "control only": Kind(texts([b"\x07\x1b[0m"[:2]], [b"\x01\x02\x7f"]), INVALID, 400, "have no text"),
    "replacement characters only": Kind(texts(["\ufffd".encode()], [b""]), INVALID, 400, "have no text"),
    "one empty ticket in a batch": Kind(texts([b"VPN", b""], [b"down", b" "]), INVALID, 400, "ticket 1: .* no text"),
    "not UTF-8 description": Kind(
        texts([b"VPN"], [b"\xff\xfe broken"]), INVALID, 400, "DESCRIPTION is not valid UTF-8"
    ),
    "not UTF-8 subject": Kind(texts([b"\xc3\x28"], [b"fine"]), INVALID, 400, "SUBJECT is not valid UTF-8"),
    "field over the limit": Kind(
        texts([b"big"], [b"x" * (FIELD_LIMIT + 1)]), INVALID, 400, f"DESCRIPTION is {FIELD_LIMIT + 1} bytes, over"
    ),
    "request over the limit": Kind(
        texts([b"s"] * 20, [b"x" * (REQUEST_LIMIT // 16)] * 20), INVALID, 400, "request of .* bytes is over the limit"
    ),
    "missing input": Kind(texts([b"VPN"], [b"x"])[:1], INVALID, 400, "DESCRIPTION"),
    "extra input": Kind(texts([b"VPN"], [b"x"]) + [("EXTRA", [b"x"], "BYTES", [1, 1])], INVALID, 400, "EXTRA"),
    "wrong datatype": Kind(
        [("SUBJECT", [1], "INT64", [1, 1]), ("DESCRIPTION", [1], "INT64", [1, 1])], INVALID, 400, "(?i)data.?type"
    ),
    "wrong shape": Kind(
        [("SUBJECT", [b"a", b"b"], "BYTES", [1, 2]), ("DESCRIPTION", [b"a", b"b"], "BYTES", [1, 2])],
        INVALID,
        400,
        "unexpected shape",
    ),
    "batch sizes differ": Kind(
        [("SUBJECT", [b"a", b"b"], "BYTES", [2, 1]), ("DESCRIPTION", [b"a"], "BYTES", [1, 1])],
        INVALID,
        400,
        "batch size does not match",
    ),
    "empty batch": Kind(texts([], []), INVALID, 400, "expected 1 string elements"),
    "batch over the maximum": Kind(texts([b"VPN"] * 65, [b"x"] * 65), INVALID, 400, "(?i)batch.?size"),
    "unknown model": Kind(texts([b"VPN"], [b"x"]), NOT_FOUND, 404, "unknown model", model="no_such_model"),
    "unknown version": Kind(texts([b"VPN"], [b"x"]), NOT_FOUND, 404, "version 7 is not found", version="7"),
    "unknown output": Kind(texts([b"VPN"], [b"x"]), INVALID, 400, "unexpected inference output", outputs=["NOPE"]),
}


def send(module, url: str, kind: Kind):
    """Send ``kind`` with ``module``'s client; returns the exception raised."""
    client = module.InferenceServerClient(url)
    inputs = []
    for name, values, datatype, shape in kind.inputs:
        tensor = module.InferInput(name, shape, datatype)
        array = np.array(values, dtype=object if datatype == "BYTES" else np.int64).reshape(shape)
        tensor.set_data_from_numpy(array)
        inputs.append(tensor)
    outputs = [module.InferRequestedOutput(name) for name in kind.outputs] or None
    with pytest.raises(InferenceServerException) as caught:
        client.infer(kind.model, inputs, model_version=kind.version, outputs=outputs)
    return caught.value


@pytest.mark.parametrize("name", list(KINDS))
@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_bad_request_gets_a_client_error(tiny_server, protocol, name):
    kind = KINDS[name]
    module, url = (grpcclient, tiny_server.grpc_url) if protocol == "grpc" else (httpclient, tiny_server.http_url)
    error = send(module, url, kind)
    expected = kind.grpc_status if protocol == "grpc" else str(kind.http_status)
    assert error.status() == expected, error.message()
    assert re.search(kind.message, error.message()), error.message()


def test_a_good_request_is_served_while_bad_ones_arrive(tiny_server):
    errors = []

    def flood():
        for _ in range(10):
            try:
                send(grpcclient, tiny_server.grpc_url, KINDS["field over the limit"])
            except BaseException as exc:  # noqa: BLE001 - reported by the main thread
                errors.append(exc)

    thread = threading.Thread(target=flood)
    thread.start()
    client = grpcclient.InferenceServerClient(tiny_server.grpc_url)
    inputs = []
    for name in ("SUBJECT", "DESCRIPTION"):
        tensor = grpcclient.InferInput(name, [1, 1], "BYTES")
        tensor.set_data_from_numpy(np.array([[b"VPN keeps dropping"]], dtype=object))
        inputs.append(tensor)
    for _ in range(5):
        assert client.infer("ticket_classifier", inputs).as_numpy("CATEGORY").shape == (1, 1)
    thread.join()
    assert errors == []


def post(url: str, body: bytes) -> tuple[int, str]:
    """Status and error text of a raw HTTP POST."""
    request = urllib.request.Request(url, data=body, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def json_body(subject, description, shape=(1, 1)) -> bytes:
    """A v2 JSON inference request."""
    inputs = [
        {"name": name, "shape": list(shape), "datatype": "BYTES", "data": [value]}
        for name, value in (("SUBJECT", subject), ("DESCRIPTION", description))
    ]
    return json.dumps({"inputs": inputs}).encode()


RAW_HTTP = {
    "empty body": (b"", 400, "Raw request must only have 1 input"),
    "element count differs from the shape": (json_body("a", "b", shape=(2, 1)), 400, "expected 2 string elements"),
    "non-UTF-8 string in JSON": (
        json_body("VPN", "x").replace(b'"x"', b'"\xff\xfe"'),
        400,
        "DESCRIPTION is not valid UTF-8",
    ),
    "empty strings in JSON": (json_body("", ""), 400, "have no text"),
}
# Triton 2.51's HTTP front end answers 500 for a body it cannot parse as JSON, or JSON of the
# wrong types (upstream triton-inference-server/server#8762; fix in PR #8773, not released).
# The text classifier cannot change that answer; these pin it, and that the server stays healthy.
UPSTREAM_500 = {
    "malformed JSON": (b"{not json", "failed to parse the request JSON buffer"),
    "JSON number where a string is expected": (
        json.dumps(
            {
                "inputs": [
                    {"name": n, "shape": [1, 1], "datatype": "BYTES", "data": [5]} for n in ("SUBJECT", "DESCRIPTION")
                ]
            }
        ).encode(),
        "Unable to parse JSON bytes array",
    ),
    "inputs not a list": (b'{"inputs": 5}', "Unable to parse 'inputs'"),
}


@pytest.mark.parametrize("name", list(RAW_HTTP))
def test_raw_http_bad_body_gets_400(tiny_server, name):
    body, status, message = RAW_HTTP[name]
    got, text = post(f"http://{tiny_server.http_url}/v2/models/ticket_classifier/infer", body)
    assert (got, message in text) == (status, True), text


@pytest.mark.parametrize("name", list(UPSTREAM_500))
def test_unparsable_json_is_triton_s_500_and_the_server_stays_healthy(tiny_server, name):
    body, message = UPSTREAM_500[name]
    url = f"http://{tiny_server.http_url}/v2/models/ticket_classifier/infer"
    status, text = post(url, body)
    assert status == 500 and message in text, text
    assert post(url, json_body("VPN", "down"))[0] == 200


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
        send(grpcclient, tiny_server.grpc_url, KINDS["field over the limit"])
    rejected, ensemble_failures, tokenizer_failures = (after - start for after, start in zip(counts(), before))
    assert rejected == 3
    # What the recording rule ticket_classifier:failed_requests:rate5m relies on: Triton 2.51
    # counts each failed ensemble request twice (once for the step, once for the ensemble).
    assert ensemble_failures == 6
    assert tokenizer_failures == 0
