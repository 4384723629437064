"""Triton model: SUBJECT and DESCRIPTION strings -> the ensemble's answer, in one Python process.

The three steps of the ensemble (``repository.fuse_steps``): tokenize (``runtime/tokenization.py``),
run the ONNX model with onnxruntime, rank and decide review (``runtime/ranking.py``), without the
two hops between Triton and separate Python stubs that the three-step ensemble pays per request.
The dynamic batcher merges requests of any length (their inputs are strings); the tickets of one
``execute`` are tokenized in one pass. With ``onnx_calls`` ``per_ticket`` (the default) each ticket
runs through onnxruntime on its own at its own length. While no other instance of the model is
at work (``runtime/instance_activity.py``) a lone ticket runs on a session with the instance's
configured threads (every core, by default), spinning while it runs; otherwise the tickets run
one after another on a session with the instance's share of the cores, which costs the least CPU
per ticket on a CPU (docs/benchmarks.md). With ``batched`` they run as one onnxruntime call per
length bucket.

It keeps every guarantee of the three steps: a field or request over the byte limits, or a
ticket without text, is refused with ``INVALID_ARG`` and counted by reason while the other
requests of the batch are served; health probes are left out of the product metrics. With the
``self_warmup`` parameter it runs a ticket of each bucket length through tokenizer and onnxruntime
before it reports ready, outside the metrics.
"""

import contextlib
import json
import os
from pathlib import Path

import numpy as np
import onnxruntime as ort
import triton_python_backend_utils as pb_utils
from runtime import contract
from runtime.instance_activity import InstanceActivity
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
        instances = instance_count(config)
        model_path = str(version_dir / contract.ONNX_MODEL_FILENAME)
        self.per_ticket = parameters.get(contract.ONNX_CALLS_PARAMETER) == contract.PER_TICKET_CALLS
        self.activity = self._activity(args) if self.per_ticket else None  # are the other instances busy?
        lone = parameters
        if self.activity:  # the lone-ticket session then runs only on an idle server: its threads may spin
            lone = {**parameters, contract.THREAD_SPINNING_PARAMETER: "1"}
        options = session_options(ort, lone, instances)
        self.session = ort.InferenceSession(model_path, options, providers=["CPUExecutionProvider"])
        self.loaded_session = self.session  # per ticket: the tickets of a loaded server, one at a time
        if self.per_ticket:
            share = session_options(ort, {**parameters, contract.INTRA_OP_THREADS_PARAMETER: "0"}, instances)
            if self.activity or share.intra_op_num_threads != options.intra_op_num_threads:  # spins, or more threads
                self.loaded_session = ort.InferenceSession(model_path, share, providers=["CPUExecutionProvider"])
        self.ranker = Ranker.from_directory(version_dir, top_k(config))
        self.metrics = ProductMetrics(
            pb_utils, self.ranker.model_version, self.ranker.label_names, confidence_edges(version_dir)
        )
        self.rejections = RejectionMetrics(pb_utils, args["model_version"])
        if parameters.get(contract.WARMUP_PARAMETER) == "1":
            for length in self.buckets or (self.tokenizer.max_length,):
                ticket = " ".join(["ticket"] * max(1, length - 2))
                self._scores([ticket])
                self._scores([ticket, ticket])  # the batch path (per ticket: the loaded session)

    def execute(self, requests):
        """Classify every accepted ticket of every request in one pass; a refused request gets its own error."""
        responses, groups, positions = self.limits.read(pb_utils, requests, self.rejections)
        if not positions:
            return responses
        with self.activity or contextlib.nullcontext():
            ranking = self.ranker.rank(*self._scores([text for group in groups for text in group]))
        sizes = [len(group) for group in groups]
        self.metrics.count_ranking(ranking, counted_rows([requests[position] for position in positions], sizes))
        answered = split_responses(pb_utils, ranking.outputs, sizes, self.output_dtypes)
        for position, response in zip(positions, answered):
            responses[position] = response
        return responses

    def _scores(self, texts):
        """Calibrated probabilities and novelty scores of ``texts``: one onnxruntime call per ticket at its
        own length, or (``batched``) one per padded length."""
        probabilities = np.empty((len(texts), len(self.ranker.label_names)), dtype=np.float32)
        novelty = np.empty((len(texts), 1), dtype=np.float32)
        if self.per_ticket:
            idle = len(texts) == 1 and not (self.activity and self.activity.others_busy())
            session = self.session if idle else self.loaded_session
            batches = enumerate(self.tokenizer.encode_groups([[text] for text in texts]))
        else:
            session, batches = self.session, self.tokenizer.encode_by_length(texts, buckets=self.buckets)
        for rows, feed in batches:
            probabilities[rows], novelty[rows] = session.run([contract.PROBABILITIES, contract.NOVELTY_SCORE], feed)
        return probabilities, novelty

    @staticmethod
    def _activity(args):
        """This instance's :class:`InstanceActivity`; None (a lone ticket then always takes the configured
        threads, without spinning) where the temporary folder cannot hold it."""
        try:
            return InstanceActivity(f"{os.getppid()}-{args['model_name']}-{args['model_version']}")
        except OSError as exc:
            pb_utils.Logger.log_warn(f"no instance activity files ({exc}): a lone ticket always takes every core")
            return None

    def finalize(self):
        """Release the metrics, the sessions, the tokenizer and the activity file."""
        self.metrics.close()
        self.rejections.close()
        if self.activity:
            self.activity.close()
        self.session = self.loaded_session = self.tokenizer = self.activity = None
