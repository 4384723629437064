"""Kinds of bad request, each with the client-class answer the server must give over gRPC and HTTP.

The test suite (``tests/integration/test_bad_requests.py``) and the reliability command both
send every kind; this is the one list of them.
"""

import json
import urllib.error
import urllib.request
from dataclasses import dataclass, field

import numpy as np

from ticket_classifier.build.model_configs import RepositoryOptions
from ticket_classifier.runtime.contract import ENSEMBLE, TEXT_INPUTS

_LIMITS = RepositoryOptions()
FIELD_LIMIT, REQUEST_LIMIT = _LIMITS.max_field_bytes, _LIMITS.max_request_bytes
INVALID, NOT_FOUND = "StatusCode.INVALID_ARGUMENT", "StatusCode.NOT_FOUND"


@dataclass(frozen=True)
class BadRequest:
    """One kind of bad request: its inputs ``[(name, values, datatype, shape)]``, model, version and
    outputs, and the expected gRPC status, HTTP status and message (a regular expression)."""

    inputs: list
    grpc_status: str
    http_status: int
    message: str
    model: str = ENSEMBLE
    version: str = ""
    outputs: list = field(default_factory=list)


SUBJECT, DESCRIPTION = TEXT_INPUTS


def texts(subjects: list, descriptions: list) -> list:
    """The two text inputs, one ticket per row."""
    return [
        (SUBJECT, subjects, "BYTES", [len(subjects), 1]),
        (DESCRIPTION, descriptions, "BYTES", [len(descriptions), 1]),
    ]


KINDS = {
    "empty": BadRequest(texts([b""], [b""]), INVALID, 400, "have no text"),
    "whitespace only": BadRequest(texts([b"  \t"], [b"\n \r\n"]), INVALID, 400, "have no text"),
    "zero-width only": BadRequest(
        texts(["\u200b\u200c".encode()], ["\u200d\ufeff".encode()]), INVALID, 400, "have no text"
    ),
    "NUL only": BadRequest(texts([b"\x00\x00"], [b"\x00"]), INVALID, 400, "have no text"),
    "control characters only": BadRequest(texts([b"\x07\x1b"], [b"\x01\x02\x7f"]), INVALID, 400, "have no text"),
    "replacement characters only": BadRequest(texts(["\ufffd".encode()], [b""]), INVALID, 400, "have no text"),
    "one empty ticket in a batch": BadRequest(
        texts([b"VPN", b""], [b"down", b" "]), INVALID, 400, "ticket 1: .* no text"
    ),
    "description not UTF-8": BadRequest(
        texts([b"VPN"], [b"\xff\xfe broken"]), INVALID, 400, f"{DESCRIPTION} is not valid UTF-8"
    ),
    "subject not UTF-8": BadRequest(texts([b"\xc3\x28"], [b"fine"]), INVALID, 400, "SUBJECT is not valid UTF-8"),
    "field over the limit": BadRequest(
        texts([b"big"], [b"x" * (FIELD_LIMIT + 1)]), INVALID, 400, f"{DESCRIPTION} is {FIELD_LIMIT + 1} bytes, over"
    ),
    "request over the limit": BadRequest(
        texts([b"s"] * 20, [b"x" * (REQUEST_LIMIT // 16)] * 20), INVALID, 400, "request of .* bytes is over the limit"
    ),
    "missing input": BadRequest(texts([b"VPN"], [b"x"])[:1], INVALID, 400, DESCRIPTION),
    "extra input": BadRequest(texts([b"VPN"], [b"x"]) + [("EXTRA", [b"x"], "BYTES", [1, 1])], INVALID, 400, "EXTRA"),
    "wrong datatype": BadRequest(
        [(SUBJECT, [1], "INT64", [1, 1]), (DESCRIPTION, [1], "INT64", [1, 1])], INVALID, 400, "(?i)data.?type"
    ),
    "wrong shape": BadRequest(
        [(SUBJECT, [b"a", b"b"], "BYTES", [1, 2]), (DESCRIPTION, [b"a", b"b"], "BYTES", [1, 2])],
        INVALID,
        400,
        "unexpected shape",
    ),
    "batch sizes differ": BadRequest(
        [(SUBJECT, [b"a", b"b"], "BYTES", [2, 1]), (DESCRIPTION, [b"a"], "BYTES", [1, 1])],
        INVALID,
        400,
        "batch size does not match",
    ),
    "empty batch": BadRequest(texts([], []), INVALID, 400, "expected 1 string elements"),
    "batch over the maximum": BadRequest(texts([b"VPN"] * 65, [b"x"] * 65), INVALID, 400, "(?i)batch.?size"),
    "unknown model": BadRequest(texts([b"VPN"], [b"x"]), NOT_FOUND, 404, "unknown model", model="no_such_model"),
    "unknown version": BadRequest(texts([b"VPN"], [b"x"]), NOT_FOUND, 404, "version 7 is not found", version="7"),
    "unknown output": BadRequest(
        texts([b"VPN"], [b"x"]), INVALID, 400, "unexpected inference output", outputs=["NOPE"]
    ),
}


def send(protocol: str, url: str, kind: BadRequest) -> tuple[str, str]:
    """Send ``kind`` with ``tritonclient`` over ``protocol``; ``(status, message)`` of the error ("OK" if none)."""
    if protocol == "grpc":
        import tritonclient.grpc as module
    else:
        import tritonclient.http as module
    from tritonclient.utils import InferenceServerException

    client = module.InferenceServerClient(url)
    inputs = []
    for name, values, datatype, shape in kind.inputs:
        tensor = module.InferInput(name, shape, datatype)
        tensor.set_data_from_numpy(np.array(values, dtype=object if datatype == "BYTES" else np.int64).reshape(shape))
        inputs.append(tensor)
    outputs = [module.InferRequestedOutput(name) for name in kind.outputs] or None
    try:
        client.infer(kind.model, inputs, model_version=kind.version, outputs=outputs)
    except InferenceServerException as exc:
        return str(exc.status()), exc.message() or ""
    finally:
        client.close()
    return "OK", ""


def json_body(subject, description, shape=(1, 1)) -> bytes:
    """A v2 JSON inference request of one ticket."""
    inputs = [
        {"name": name, "shape": list(shape), "datatype": "BYTES", "data": [value]}
        for name, value in ((SUBJECT, subject), (DESCRIPTION, description))
    ]
    return json.dumps({"inputs": inputs}).encode()


# Bodies only the HTTP API can receive: (body, expected status, message).
RAW_HTTP = {
    "empty body": (b"", 400, "Raw request must only have 1 input"),
    "element count differs from the shape": (json_body("a", "b", shape=(2, 1)), 400, "expected 2 string elements"),
    "non-UTF-8 string in JSON": (
        json_body("VPN", "x").replace(b'"x"', b'"\xff\xfe"'),
        400,
        f"{DESCRIPTION} is not valid UTF-8",
    ),
    "empty strings in JSON": (json_body("", ""), 400, "have no text"),
}
# Triton 2.51's HTTP front end answers 500 for a body it cannot parse as JSON, or JSON of the
# wrong types (upstream triton-inference-server/server#8762; fix proposed in PR #8773). The
# classifier cannot change that answer; the documented TLS proxy does not either.
UPSTREAM_500 = {
    "malformed JSON": (b"{not json", "failed to parse the request JSON buffer"),
    "JSON number where a string is expected": (
        json.dumps(
            {"inputs": [{"name": n, "shape": [1, 1], "datatype": "BYTES", "data": [5]} for n in TEXT_INPUTS]}
        ).encode(),
        "Unable to parse JSON bytes array",
    ),
    "inputs not a list": (b'{"inputs": 5}', "Unable to parse 'inputs'"),
}


def post(http_url: str, body: bytes, timeout_s: float = 60.0) -> tuple[int, str]:
    """Status and body text of a raw POST to the ensemble's infer endpoint."""
    request = urllib.request.Request(f"http://{http_url}/v2/models/{ENSEMBLE}/infer", data=body, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")
