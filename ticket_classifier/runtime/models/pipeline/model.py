"""Triton model: SUBJECT and DESCRIPTION strings -> the ensemble's answer, in one Python process.

The three steps of the ensemble (``repository.fuse_steps``): tokenize (``runtime/tokenization.py``),
run the ONNX model with onnxruntime, rank and decide review (``runtime/ranking.py``), without the
two hops between Triton and separate Python stubs that the three-step ensemble pays per request.
The dynamic batcher merges requests of any length (their inputs are strings); the tickets of one
``execute`` are tokenized in one pass and run as one onnxruntime call per length bucket.

It keeps every guarantee of the three steps: a field or request over the byte limits, or a
ticket without text, is refused with ``INVALID_ARG`` and counted by reason while the other
requests of the batch are served; health probes are left out of the product metrics. With the
``self_warmup`` parameter it runs a ticket of each bucket length through tokenizer and onnxruntime
before it reports ready, outside the metrics.
"""

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import triton_python_backend_utils as pb_utils
from runtime import contract
from runtime.metrics import ProductMetrics, RejectionMetrics, confidence_edges
from runtime.onnx_threads import session_options
from runtime.ranking import Ranker
from runtime.step_io import (
    TextLimits,
    counted_rows,
    instance_count,
    length_buckets,
    model_parameters,
    output_dtypes,
    split_responses,
    top_k,
)
from runtime.tokenization import TicketTokenizer


class TritonPythonModel:
    """The fused pipeline step of the ticket_classifier ensemble."""

    def initialize(self, args):
        """Load the tokenizer, the onnxruntime session and the ranking of the version in this folder."""
        config = json.loads(args["model_config"])
        version_dir = Path(args["model_repository"]) / args["model_version"]
        parameters = model_parameters(config)
        self.limits = TextLimits(config)
        self.output_dtypes = output_dtypes(pb_utils, config)
        self.tokenizer = TicketTokenizer.from_directory(version_dir)
        self.buckets = length_buckets(config)
        options = session_options(ort, parameters, instance_count(config))
        model_path = version_dir / contract.ONNX_MODEL_FILENAME
        self.session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
        self.ranker = Ranker.from_directory(version_dir, top_k(config))
        self.metrics = ProductMetrics(
            pb_utils, self.ranker.model_version, self.ranker.label_names, confidence_edges(version_dir)
        )
        self.rejections = RejectionMetrics(pb_utils, args["model_version"])
        if parameters.get(contract.WARMUP_PARAMETER) == "1":
            for length in self.buckets or (self.tokenizer.max_length,):
                self._scores([" ".join(["ticket"] * max(1, length - 2))])

    def execute(self, requests):
        """Classify every accepted ticket of every request in one pass; a refused request gets its own error."""
        responses, groups, positions = self.limits.read(pb_utils, requests, self.rejections)
        if not positions:
            return responses
        ranking = self.ranker.rank(*self._scores([text for group in groups for text in group]))
        sizes = [len(group) for group in groups]
        self.metrics.count_ranking(ranking, counted_rows([requests[position] for position in positions], sizes))
        answered = split_responses(pb_utils, ranking.outputs, sizes, self.output_dtypes)
        for position, response in zip(positions, answered):
            responses[position] = response
        return responses

    def _scores(self, texts):
        """Calibrated probabilities and novelty scores of ``texts``: one onnxruntime call per padded length."""
        probabilities = np.empty((len(texts), len(self.ranker.label_names)), dtype=np.float32)
        novelty = np.empty((len(texts), 1), dtype=np.float32)
        for rows, feed in self.tokenizer.encode_by_length(texts, buckets=self.buckets):
            probabilities[rows], novelty[rows] = self.session.run(
                [contract.PROBABILITIES, contract.NOVELTY_SCORE], feed
            )
        return probabilities, novelty

    def finalize(self):
        """Release the metrics, the session and the tokenizer."""
        self.metrics.close()
        self.rejections.close()
        self.session = self.tokenizer = None
