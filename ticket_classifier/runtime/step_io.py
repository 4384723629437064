"""What every Python step does with Triton's requests, configurations and responses, written once.

The models pass their ``triton_python_backend_utils`` module in (``pb_utils``): only Triton's
stub has it, and this package must import without it (``tests/runtime/test_isolation.py``).
"""

import json

import numpy as np

from .contract import (
    HEALTH_PROBE_PARAMETER,
    LENGTH_BUCKETS_PARAMETER,
    MAX_FIELD_BYTES_PARAMETER,
    MAX_REQUEST_BYTES_PARAMETER,
    TOP_LABELS,
)
from .text import RejectedTicket, check_sizes, ticket_text


def model_parameters(config: dict) -> dict[str, str]:
    """The ``parameters`` of a model configuration, as strings."""
    return {key: value["string_value"] for key, value in config.get("parameters", {}).items()}


def instance_count(config: dict) -> int:
    """How many instances of the model the configuration starts (at least 1)."""
    return sum(group.get("count", 1) for group in config.get("instance_group", [])) or 1


def length_buckets(config: dict) -> tuple[int, ...]:
    """The padded lengths of the ``length_buckets`` parameter (none: pad to the longest text)."""
    value = model_parameters(config).get(LENGTH_BUCKETS_PARAMETER, "")
    return tuple(int(length) for length in value.split(",") if length)


def top_k(config: dict) -> int:
    """How many labels the ``TOP_LABELS`` output holds."""
    return next(entry["dims"][0] for entry in config["output"] if entry["name"] == TOP_LABELS)


def counted_rows(requests, sizes) -> np.ndarray:
    """Per row of a batch (``sizes`` rows per request): True unless its request is a health probe."""
    return np.concatenate([np.full(size, not is_health_probe(request)) for request, size in zip(requests, sizes)])


def output_dtypes(pb_utils, config: dict) -> dict[str, np.dtype]:
    """Each output's numpy dtype, in the configuration's order."""
    return {entry["name"]: pb_utils.triton_string_to_numpy(entry["data_type"]) for entry in config["output"]}


class TextLimits:
    """The byte limits of one request (model parameters) and the names of its text inputs."""

    def __init__(self, config: dict) -> None:
        parameters = model_parameters(config)
        self.input_names = [entry["name"] for entry in config["input"]]
        self.max_field_bytes = int(parameters[MAX_FIELD_BYTES_PARAMETER])
        self.max_request_bytes = int(parameters[MAX_REQUEST_BYTES_PARAMETER])

    def texts(self, pb_utils, request) -> list[str]:
        """The model texts of one request, checked for size before decoding, then for encoding and content;
        raises :class:`~runtime.text.RejectedTicket`."""
        fields = [pb_utils.get_input_tensor_by_name(request, name).as_numpy().reshape(-1) for name in self.input_names]
        tickets = [[_bytes(value) for value in values] for values in zip(*fields)]
        check_sizes(tickets, self.input_names, self.max_field_bytes, self.max_request_bytes)
        return [ticket_text(values, self.input_names, row) for row, values in enumerate(tickets)]

    def read(self, pb_utils, requests, rejections) -> tuple[list, list[list[str]], list[int]]:
        """The texts of every request within the limits (``groups``, at ``positions`` in ``requests``); each
        refused request already has its error response in ``responses`` and is counted in ``rejections``."""
        responses, groups, positions = [None] * len(requests), [], []
        for position, request in enumerate(requests):
            try:
                groups.append(self.texts(pb_utils, request))
                positions.append(position)
            except RejectedTicket as exc:
                rejections.count(exc.reason)
                responses[position] = rejection(pb_utils, exc)
        return responses, groups, positions


def rejection(pb_utils, error: Exception):
    """The response to a request refused as the sender's mistake (HTTP 400, gRPC INVALID_ARGUMENT)."""
    return pb_utils.InferenceResponse(error=pb_utils.TritonError(str(error), pb_utils.TritonError.INVALID_ARG))


def is_health_probe(request) -> bool:
    """True when the request carries the health-probe request parameter."""
    return HEALTH_PROBE_PARAMETER in json.loads(request.parameters() or "{}")


def split_responses(pb_utils, outputs: dict[str, np.ndarray], sizes, dtypes: dict[str, np.dtype]) -> list:
    """One response per request from batch-wide ``outputs``: the rows of each request in turn (``sizes``)."""
    responses, start = [], 0
    for size in sizes:
        tensors = [
            pb_utils.Tensor(name, outputs[name][start : start + size].astype(dtype)) for name, dtype in dtypes.items()
        ]
        responses.append(pb_utils.InferenceResponse(output_tensors=tensors))
        start += size
    return responses


def _bytes(value) -> bytes:
    """The raw bytes of a TYPE_STRING element."""
    return value.encode("utf-8") if isinstance(value, str) else bytes(value)
