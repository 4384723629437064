"""Triton model: probabilities and novelty -> category, confidence, top-k, ranking, review decision, model version.

The review policy stored with the model version decides here, once, for every client
(``runtime/ranking.py``): ``REQUIRES_REVIEW`` and ``REVIEW_REASONS`` (the reasons joined by
``REASON_SEPARATOR``).

Also exports the product's own Prometheus metrics on Triton's metrics endpoint (Python-backend
custom metrics; ``runtime/metrics.py``), so that every client, in any language, is monitored:
tickets by predicted category (counter), top-1 confidence (histogram, bucketed at the drift
reference's bin edges), tickets flagged for review (counter) and the review rules that fired
(counter, by rule), each labelled with the model version.

Health probes (requests carrying the contract's ``HEALTH_PROBE_PARAMETER`` request parameter)
are answered like any request but left out of these metrics, so that probing does not look like
traffic.
"""

import json
from pathlib import Path

import numpy as np
import triton_python_backend_utils as pb_utils
from runtime import contract
from runtime.metrics import ProductMetrics, confidence_edges
from runtime.ranking import Ranker
from runtime.step_io import counted_rows, output_dtypes, split_responses, top_k


class TritonPythonModel:
    """Postprocessing step of the ticket_classifier ensemble."""

    def initialize(self, args):
        """Read the labels, model version, review policy and drift bins written by the repository builder."""
        config = json.loads(args["model_config"])
        version_dir = Path(args["model_repository"]) / args["model_version"]
        self.output_dtypes = output_dtypes(pb_utils, config)
        self.ranker = Ranker.from_directory(version_dir, top_k(config))
        self.metrics = ProductMetrics(
            pb_utils, self.ranker.model_version, self.ranker.label_names, confidence_edges(version_dir)
        )

    def execute(self, requests):
        """Rank the labels of every ticket of every request in one vectorised pass."""
        arrays = [
            pb_utils.get_input_tensor_by_name(request, contract.POSTPROCESS_INPUT).as_numpy() for request in requests
        ]
        novelty = [
            pb_utils.get_input_tensor_by_name(request, contract.POSTPROCESS_NOVELTY_INPUT).as_numpy()
            for request in requests
        ]
        ranking = self.ranker.rank(np.concatenate(arrays), np.concatenate(novelty))
        sizes = [len(array) for array in arrays]
        self.metrics.count_ranking(ranking, counted_rows(requests, sizes))
        return split_responses(pb_utils, ranking.outputs, sizes, self.output_dtypes)

    def finalize(self):
        """Release the metrics before their families."""
        self.metrics.close()
