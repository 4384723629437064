"""Triton model: token arrays -> logits and calibrated probabilities, with onnxruntime.

The pip tritonserver has no native onnxruntime backend, so on CPU the ONNX model runs here.
The requests of one ``execute`` (same bucket length when the dynamic batcher merged them)
are padded to a common length, concatenated and run as one onnxruntime call.
"""

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import triton_python_backend_utils as pb_utils
from runtime.contract import ONNX_MODEL_FILENAME, TOKEN_INPUTS
from runtime.onnx_threads import session_options
from runtime.step_io import instance_count, model_parameters, output_dtypes, split_responses


class TritonPythonModel:
    """Classifier step of the ticket_classifier ensemble (Python-backend variant)."""

    def initialize(self, args):
        """Open an onnxruntime session on the ONNX model beside this file, with this instance's share of
        the cores (``runtime/onnx_threads.py``)."""
        config = json.loads(args["model_config"])
        options = session_options(ort, model_parameters(config), instance_count(config))
        model_path = Path(args["model_repository"]) / args["model_version"] / ONNX_MODEL_FILENAME
        self.session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
        self.input_dtypes = {
            entry["name"]: pb_utils.triton_string_to_numpy(entry["data_type"]) for entry in config["input"]
        }
        self.output_dtypes = output_dtypes(pb_utils, config)

    def execute(self, requests):
        """One onnxruntime run for all requests, split back per request."""
        per_request = [
            {name: pb_utils.get_input_tensor_by_name(request, name).as_numpy() for name in self.input_dtypes}
            for request in requests
        ]
        ids = TOKEN_INPUTS[0]
        length = max(arrays[ids].shape[1] for arrays in per_request)
        feed = {
            name: np.concatenate([_pad(arrays[name], length) for arrays in per_request]).astype(dtype)
            for name, dtype in self.input_dtypes.items()
        }
        outputs = dict(zip(self.output_dtypes, self.session.run(list(self.output_dtypes), feed)))
        return split_responses(pb_utils, outputs, [len(arrays[ids]) for arrays in per_request], self.output_dtypes)

    def finalize(self):
        """Release the onnxruntime session."""
        self.session = None


def _pad(array, length):
    """Right-pad a [batch, seq] array with zeros to ``length`` (zero mask: ignored by the model)."""
    return np.pad(array, ((0, 0), (0, length - array.shape[1])))
