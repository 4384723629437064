"""Triton model: probabilities -> category, confidence, top-k, full ranking and model version."""

import json
from pathlib import Path

import numpy as np
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    """Postprocessing step of the ticket_classifier ensemble."""

    def initialize(self, args):
        """Read the label list and the model version written by the repository builder."""
        config = json.loads(args["model_config"])
        version_dir = Path(args["model_repository"]) / args["model_version"]
        labels = json.loads((version_dir / "labels.json").read_text(encoding="utf-8"))
        self.labels = np.array([label.encode("utf-8") for label in labels], dtype=object)
        info = json.loads((version_dir / "model_info.json").read_text(encoding="utf-8"))
        self.model_version = info["model_version"].encode("utf-8")
        self.output_dtypes = {
            entry["name"]: pb_utils.triton_string_to_numpy(entry["data_type"]) for entry in config["output"]
        }
        self.top_k = next(entry["dims"][0] for entry in config["output"] if entry["name"] == "TOP_LABELS")

    def execute(self, requests):
        """Rank the labels of every ticket of every request in one vectorised pass."""
        arrays = [pb_utils.get_input_tensor_by_name(request, "PROBABILITIES").as_numpy() for request in requests]
        probabilities = np.concatenate(arrays)
        order = np.argsort(-probabilities, axis=1, kind="stable")
        ranked_scores = np.take_along_axis(probabilities, order, axis=1)
        ranked_labels = self.labels[order]
        outputs = {
            "CATEGORY": ranked_labels[:, :1],
            "CONFIDENCE": ranked_scores[:, :1],
            "TOP_LABELS": ranked_labels[:, : self.top_k],
            "TOP_SCORES": ranked_scores[:, : self.top_k],
            "RANKED_LABELS": ranked_labels,
            "RANKED_SCORES": ranked_scores,
            "MODEL_VERSION": np.full((len(probabilities), 1), self.model_version, dtype=object),
        }
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

    def finalize(self):
        """Nothing to release."""
        self.labels = None
