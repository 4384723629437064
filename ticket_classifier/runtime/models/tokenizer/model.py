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
from runtime.metrics import RejectionMetrics
from runtime.step_io import TextLimits, length_buckets, output_dtypes
from runtime.tokenization import TicketTokenizer


class TritonPythonModel:
    """Tokenizer step of the ticket_classifier ensemble."""

    def initialize(self, args):
        """Load the tokenizer saved beside this file; read limits and output dtypes from the config."""
        config = json.loads(args["model_config"])
        self.tokenizer = TicketTokenizer.from_directory(Path(args["model_repository"]) / args["model_version"])
        self.output_dtypes = output_dtypes(pb_utils, config)
        self.limits = TextLimits(config)
        self.buckets = length_buckets(config)
        self.rejections = RejectionMetrics(pb_utils, args["model_version"])

    def execute(self, requests):
        """Tokenize every accepted request of the batch in one pass; a refused request gets its own error."""
        responses, groups, positions = self.limits.read(pb_utils, requests, self.rejections)
        for position, arrays in zip(positions, self.tokenizer.encode_groups(groups, buckets=self.buckets)):
            tensors = [pb_utils.Tensor(name, arrays[name].astype(dtype)) for name, dtype in self.output_dtypes.items()]
            responses[position] = pb_utils.InferenceResponse(output_tensors=tensors)
        return responses

    def finalize(self):
        """Release the metrics and the tokenizer."""
        self.rejections.close()
        self.tokenizer = None
