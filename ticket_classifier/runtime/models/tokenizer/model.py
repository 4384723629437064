"""Triton model: SUBJECT and DESCRIPTION strings -> padded token arrays.

All requests of one ``execute`` are tokenized in a single pass; each request is padded to its
own length bucket (the ``length_buckets`` parameter) so that the classifier's dynamic batcher
can merge requests of equal shape, or without buckets to its longest ticket.

Work per request is bounded before any text is decoded: a field over ``max_field_bytes`` or a
request over ``max_request_bytes`` (model parameters) is refused, and every text is cut to a
bounded number of characters before tokenizing (``TicketTokenizer.max_characters``). A refused
request gets an ``INVALID_ARG`` error (HTTP 400, gRPC INVALID_ARGUMENT) naming the ticket and
the field, and is counted once in ``ticket_classifier_rejected_requests_total{reason}``; the
other requests of the same batch are served.
"""

import json
from pathlib import Path

import triton_python_backend_utils as pb_utils
from runtime.contract import LENGTH_BUCKETS_PARAMETER, MAX_FIELD_BYTES_PARAMETER, MAX_REQUEST_BYTES_PARAMETER
from runtime.metrics import REJECTED
from runtime.text import REJECTION_REASONS, RejectedTicket, check_sizes, ticket_text
from runtime.tokenization import TicketTokenizer


class TritonPythonModel:
    """Tokenizer step of the ticket_classifier ensemble."""

    def initialize(self, args):
        """Load the tokenizer saved beside this file; read limits and output dtypes from the config."""
        config = json.loads(args["model_config"])
        self.tokenizer = TicketTokenizer.from_directory(Path(args["model_repository"]) / args["model_version"])
        self.output_dtypes = {
            output["name"]: pb_utils.triton_string_to_numpy(output["data_type"]) for output in config["output"]
        }
        self.input_names = [entry["name"] for entry in config["input"]]
        parameters = {key: value["string_value"] for key, value in config.get("parameters", {}).items()}
        self.buckets = tuple(
            int(length) for length in parameters.get(LENGTH_BUCKETS_PARAMETER, "").split(",") if length
        )
        self.max_field_bytes = int(parameters[MAX_FIELD_BYTES_PARAMETER])
        self.max_request_bytes = int(parameters[MAX_REQUEST_BYTES_PARAMETER])
        family = pb_utils.MetricFamily(
            name=REJECTED,
            description="Requests refused as client errors before tokenizing, by reason",
            kind=pb_utils.MetricFamily.COUNTER,
        )
        self.families = (family,)  # a family must outlive its metrics
        self.rejections = {
            reason: family.Metric(labels={"reason": reason, "model_version": args["model_version"]})
            for reason in REJECTION_REASONS
        }

    def execute(self, requests):
        """Tokenize every accepted request of the batch in one pass; a refused request gets its own error."""
        responses = [None] * len(requests)
        groups, positions = [], []
        for position, request in enumerate(requests):
            try:
                groups.append(self._texts(request))
                positions.append(position)
            except RejectedTicket as exc:
                self.rejections[exc.reason].increment(1.0)
                error = pb_utils.TritonError(str(exc), pb_utils.TritonError.INVALID_ARG)
                responses[position] = pb_utils.InferenceResponse(error=error)
        for position, arrays in zip(positions, self.tokenizer.encode_groups(groups, buckets=self.buckets)):
            tensors = [pb_utils.Tensor(name, arrays[name].astype(dtype)) for name, dtype in self.output_dtypes.items()]
            responses[position] = pb_utils.InferenceResponse(output_tensors=tensors)
        return responses

    def _texts(self, request):
        """The model texts of one request, checked for size before decoding, then for encoding and content."""
        fields = [pb_utils.get_input_tensor_by_name(request, name).as_numpy().reshape(-1) for name in self.input_names]
        tickets = [[_bytes(value) for value in values] for values in zip(*fields)]
        check_sizes(tickets, self.input_names, self.max_field_bytes, self.max_request_bytes)
        return [ticket_text(values, self.input_names, row) for row, values in enumerate(tickets)]

    def finalize(self):
        """Release the metrics before their family."""
        self.rejections = None
        self.families = None
        self.tokenizer = None


def _bytes(value):
    """The raw bytes of a TYPE_STRING element."""
    return value.encode("utf-8") if isinstance(value, str) else bytes(value)
