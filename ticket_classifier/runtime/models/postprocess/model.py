"""Triton model: probabilities -> category, confidence, top-k, ranking, review decision and model version.

The review policy stored with the model version decides here, once, for every client:
``REQUIRES_REVIEW`` and ``REVIEW_REASONS`` (the reasons joined by ``REASON_SEPARATOR``).

Also exports the product's own Prometheus metrics on Triton's metrics endpoint (Python-backend
custom metrics; names in ``runtime/metrics.py``), so that every client, in any language, is
monitored: tickets by predicted category (counter), top-1 confidence (histogram, bucketed at the
drift reference's bin edges), tickets flagged for review (counter) and the review rules that
fired (counter, by rule), each labelled with the model version.

Health probes (requests carrying the contract's ``HEALTH_PROBE_PARAMETER`` request parameter)
are answered like any request but left out of these metrics, so that probing does not look like
traffic.
"""

import json
from pathlib import Path

import numpy as np
import triton_python_backend_utils as pb_utils
from runtime import contract
from runtime.metrics import CONFIDENCE, PREDICTIONS, REVIEW_REQUIRED, REVIEW_RULES, confidence_buckets
from runtime.review import REASON_SEPARATOR, RULES, ReviewPolicy


class TritonPythonModel:
    """Postprocessing step of the ticket_classifier ensemble."""

    def initialize(self, args):
        """Read the labels, model version, review policy and drift bins written by the repository builder."""
        config = json.loads(args["model_config"])
        version_dir = Path(args["model_repository"]) / args["model_version"]
        self.label_names = _read_json(version_dir / contract.LABELS_FILENAME)
        self.labels = np.array([label.encode("utf-8") for label in self.label_names], dtype=object)
        info = _read_json(version_dir / contract.MODEL_INFO_FILENAME)
        version = info["model_version"]
        self.model_version = version.encode("utf-8")
        self.policy = ReviewPolicy(
            **json.loads((version_dir / contract.REVIEW_POLICY_FILENAME).read_text(encoding="utf-8"))
        )
        reference = json.loads((version_dir / contract.DRIFT_REFERENCE_FILENAME).read_text(encoding="utf-8"))
        self.edges = np.array(reference["confidence_edges"])
        self.output_dtypes = {
            entry["name"]: pb_utils.triton_string_to_numpy(entry["data_type"]) for entry in config["output"]
        }
        self.top_k = next(entry["dims"][0] for entry in config["output"] if entry["name"] == contract.TOP_LABELS)
        self._create_metrics(version)

    def _create_metrics(self, version):
        """The product metrics of this model version (see the module documentation)."""
        counter = pb_utils.MetricFamily.COUNTER
        predictions = pb_utils.MetricFamily(
            name=PREDICTIONS, description="Tickets classified, by predicted category", kind=counter
        )
        confidence = pb_utils.MetricFamily(
            name=CONFIDENCE, description="Top-1 confidence of classified tickets", kind=pb_utils.MetricFamily.HISTOGRAM
        )
        required = pb_utils.MetricFamily(
            name=REVIEW_REQUIRED, description="Tickets flagged for review by the server-side policy", kind=counter
        )
        rules = pb_utils.MetricFamily(
            name=REVIEW_RULES, description="Review rules that fired, by rule (a ticket may fire several)", kind=counter
        )
        self.families = (predictions, confidence, required, rules)  # a family must outlive its metrics
        labels = {"model_version": version}
        self.category_metrics = [predictions.Metric(labels={"category": label, **labels}) for label in self.label_names]
        self.confidence_metric = confidence.Metric(labels=labels, buckets=confidence_buckets(self.edges))
        self.required_metric = required.Metric(labels=labels)
        self.rule_metrics = {rule: rules.Metric(labels={"rule": rule, **labels}) for rule in RULES}

    def execute(self, requests):
        """Rank the labels of every ticket of every request in one vectorised pass."""
        arrays = [
            pb_utils.get_input_tensor_by_name(request, contract.POSTPROCESS_INPUT).as_numpy() for request in requests
        ]
        probabilities = np.concatenate(arrays)
        order = np.argsort(-probabilities, axis=1, kind="stable")
        ranked_scores = np.take_along_axis(probabilities, order, axis=1)
        ranked_labels = self.labels[order]
        findings = [self.policy.evaluate(dict(zip(self.label_names, row.tolist()))) for row in probabilities]
        outputs = {
            contract.CATEGORY: ranked_labels[:, :1],
            contract.CONFIDENCE: ranked_scores[:, :1],
            contract.TOP_LABELS: ranked_labels[:, : self.top_k],
            contract.TOP_SCORES: ranked_scores[:, : self.top_k],
            contract.RANKED_LABELS: ranked_labels,
            contract.RANKED_SCORES: ranked_scores,
            contract.REQUIRES_REVIEW: np.array([[bool(found)] for found in findings]),
            contract.REVIEW_REASONS: np.array(
                [[REASON_SEPARATOR.join(message for _, message in found).encode("utf-8")] for found in findings],
                dtype=object,
            ),
            contract.MODEL_VERSION: np.full((len(probabilities), 1), self.model_version, dtype=object),
        }
        counted = np.concatenate(
            [np.full(len(array), not _is_health_probe(request)) for array, request in zip(arrays, requests)]
        )
        self._count(order[counted, 0], ranked_scores[counted, 0], [f for f, keep in zip(findings, counted) if keep])
        responses, start = [], 0
        for array in arrays:
            stop = start + len(array)
            tensors = [
                pb_utils.Tensor(name, outputs[name][start:stop].astype(dtype))
                for name, dtype in self.output_dtypes.items()
            ]
            responses.append(pb_utils.InferenceResponse(output_tensors=tensors))
            start = stop
        return responses

    def _count(self, predicted, confidence, findings):
        """Add this batch to the Prometheus metrics."""
        for metric, count in zip(self.category_metrics, np.bincount(predicted, minlength=len(self.category_metrics))):
            if count:
                metric.increment(float(count))
        for value in confidence.tolist():
            self.confidence_metric.observe(value)
        flagged = sum(bool(found) for found in findings)
        if flagged:
            self.required_metric.increment(float(flagged))
        fired = [rule for found in findings for rule in {rule for rule, _ in found}]
        for rule in set(fired):
            self.rule_metrics[rule].increment(float(fired.count(rule)))

    def finalize(self):
        """Release the metrics before their families."""
        self.category_metrics = self.confidence_metric = self.required_metric = self.rule_metrics = None
        self.families = None


def _is_health_probe(request):
    """True when the request carries the health-probe request parameter."""
    return contract.HEALTH_PROBE_PARAMETER in json.loads(request.parameters() or "{}")


def _read_json(path):
    """A JSON file the repository builder wrote beside this model."""
    return json.loads(path.read_text(encoding="utf-8"))
