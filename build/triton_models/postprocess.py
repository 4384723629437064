"""Triton model: probabilities -> category, confidence, top-k, ranking, review decision and model version.

The review policy stored with the model version decides here, once, for every client:
``REQUIRES_REVIEW`` and ``REVIEW_REASONS`` (the reasons joined by ``REASON_SEPARATOR``).

Also exports the product's own Prometheus metrics on Triton's metrics endpoint (Python-backend
custom metrics), so that every client, in any language, is monitored:

* ``ticket_classifier_predictions_total{category, model_version}``: tickets by predicted category;
* ``ticket_classifier_confidence_total{bin, model_version}``: tickets by top-1 confidence, in the
  bins of the drift reference (``drift_reference.json``);
* ``ticket_classifier_review_total{rule, model_version}``: tickets the review policy flags, by
  rule (``any`` counts each flagged ticket once).

Health probes (requests carrying the ``HEALTH_PROBE_PARAMETER`` request parameter) are answered
like any request but left out of these counters, so that probing does not look like traffic.
"""

import json
from pathlib import Path

import numpy as np
import triton_python_backend_utils as pb_utils
from ticket_metrics import CONFIDENCE, HEALTH_PROBE_PARAMETER, PREDICTIONS, REVIEW, confidence_bin_names
from ticket_review import REASON_SEPARATOR, RULES, ReviewPolicy


class TritonPythonModel:
    """Postprocessing step of the ticket_classifier ensemble."""

    def initialize(self, args):
        """Read the labels, model version, review policy and drift bins written by the repository builder."""
        config = json.loads(args["model_config"])
        version_dir = Path(args["model_repository"]) / args["model_version"]
        self.label_names = json.loads((version_dir / "labels.json").read_text(encoding="utf-8"))
        self.labels = np.array([label.encode("utf-8") for label in self.label_names], dtype=object)
        info = json.loads((version_dir / "model_info.json").read_text(encoding="utf-8"))
        version = info["model_version"]
        self.model_version = version.encode("utf-8")
        self.policy = ReviewPolicy(**json.loads((version_dir / "review_policy.json").read_text(encoding="utf-8")))
        reference = json.loads((version_dir / "drift_reference.json").read_text(encoding="utf-8"))
        self.edges = np.array(reference["confidence_edges"])
        self.output_dtypes = {
            entry["name"]: pb_utils.triton_string_to_numpy(entry["data_type"]) for entry in config["output"]
        }
        self.top_k = next(entry["dims"][0] for entry in config["output"] if entry["name"] == "TOP_LABELS")
        self._create_metrics(version)

    def _create_metrics(self, version):
        """One counter per category, confidence bin and review rule, labelled with the model version."""
        counter = pb_utils.MetricFamily.COUNTER
        predictions = pb_utils.MetricFamily(
            name=PREDICTIONS,
            description="Tickets classified, by predicted category",
            kind=counter,
        )
        confidence = pb_utils.MetricFamily(
            name=CONFIDENCE,
            description="Tickets classified, by top-1 confidence bin",
            kind=counter,
        )
        review = pb_utils.MetricFamily(
            name=REVIEW,
            description="Tickets flagged for review by the server-side policy, by rule",
            kind=counter,
        )
        self.families = (predictions, confidence, review)  # a family must outlive its metrics
        self.category_metrics = [
            predictions.Metric(labels={"category": label, "model_version": version}) for label in self.label_names
        ]
        self.bin_metrics = [
            confidence.Metric(labels={"bin": name, "model_version": version})
            for name in confidence_bin_names(self.edges)
        ]
        self.review_metrics = {
            rule: review.Metric(labels={"rule": rule, "model_version": version}) for rule in ("any",) + RULES
        }

    def execute(self, requests):
        """Rank the labels of every ticket of every request in one vectorised pass."""
        arrays = [pb_utils.get_input_tensor_by_name(request, "PROBABILITIES").as_numpy() for request in requests]
        probabilities = np.concatenate(arrays)
        order = np.argsort(-probabilities, axis=1, kind="stable")
        ranked_scores = np.take_along_axis(probabilities, order, axis=1)
        ranked_labels = self.labels[order]
        findings = [self.policy.evaluate(dict(zip(self.label_names, row.tolist()))) for row in probabilities]
        outputs = {
            "CATEGORY": ranked_labels[:, :1],
            "CONFIDENCE": ranked_scores[:, :1],
            "TOP_LABELS": ranked_labels[:, : self.top_k],
            "TOP_SCORES": ranked_scores[:, : self.top_k],
            "RANKED_LABELS": ranked_labels,
            "RANKED_SCORES": ranked_scores,
            "REQUIRES_REVIEW": np.array([[bool(found)] for found in findings]),
            "REVIEW_REASONS": np.array(
                [[REASON_SEPARATOR.join(message for _, message in found).encode("utf-8")] for found in findings],
                dtype=object,
            ),
            "MODEL_VERSION": np.full((len(probabilities), 1), self.model_version, dtype=object),
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
        """Add this batch to the Prometheus counters."""
        for metric, count in zip(self.category_metrics, np.bincount(predicted, minlength=len(self.category_metrics))):
            if count:
                metric.increment(float(count))
        bins = np.clip(np.searchsorted(self.edges, confidence, side="right") - 1, 0, len(self.bin_metrics) - 1)
        for metric, count in zip(self.bin_metrics, np.bincount(bins, minlength=len(self.bin_metrics))):
            if count:
                metric.increment(float(count))
        flagged = [rule for found in findings for rule in {rule for rule, _ in found}]
        flagged += ["any"] * sum(bool(found) for found in findings)
        for rule in set(flagged):
            self.review_metrics[rule].increment(float(flagged.count(rule)))

    def finalize(self):
        """Release the metrics before their families."""
        self.category_metrics = self.bin_metrics = self.review_metrics = None
        self.families = None


def _is_health_probe(request):
    """True when the request carries the health-probe request parameter."""
    return HEALTH_PROBE_PARAMETER in json.loads(request.parameters() or "{}")
