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
from runtime.contract import (
    INTRA_OP_THREADS_PARAMETER,
    ONNX_MODEL_FILENAME,
    THREAD_SPINNING_PARAMETER,
    TOKEN_INPUTS,
)
from runtime.onnx_threads import intra_op_threads, spinning_entries


class TritonPythonModel:
    """Classifier step of the ticket_classifier ensemble (Python-backend variant)."""

    def initialize(self, args):
        """Open an onnxruntime session on the ONNX model beside this file, with this instance's share of
        the cores (``runtime/onnx_threads.py``)."""
        config = json.loads(args["model_config"])
        parameters = {key: value["string_value"] for key, value in config.get("parameters", {}).items()}
        instances = sum(group.get("count", 1) for group in config.get("instance_group", [])) or 1
        options = ort.SessionOptions()
        options.intra_op_num_threads = intra_op_threads(int(parameters.get(INTRA_OP_THREADS_PARAMETER, "0")), instances)
        for key, value in spinning_entries(parameters.get(THREAD_SPINNING_PARAMETER, "0") == "1").items():
            options.add_session_config_entry(key, value)
        model_path = Path(args["model_repository"]) / args["model_version"] / ONNX_MODEL_FILENAME
        self.session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
        self.input_dtypes = {
            entry["name"]: pb_utils.triton_string_to_numpy(entry["data_type"]) for entry in config["input"]
        }
        self.output_names = [entry["name"] for entry in config["output"]]
        self.output_dtypes = [pb_utils.triton_string_to_numpy(entry["data_type"]) for entry in config["output"]]

    def execute(self, requests):
        """One onnxruntime run for all requests, split back per request."""
        per_request = [
            {name: pb_utils.get_input_tensor_by_name(request, name).as_numpy() for name in self.input_dtypes}
            for request in requests
        ]
        ids = TOKEN_INPUTS[0]
        sizes = [len(arrays[ids]) for arrays in per_request]
        length = max(arrays[ids].shape[1] for arrays in per_request)
        feed = {
            name: np.concatenate([_pad(arrays[name], length) for arrays in per_request]).astype(dtype)
            for name, dtype in self.input_dtypes.items()
        }
        outputs = self.session.run(self.output_names, feed)
        responses, start = [], 0
        for size in sizes:
            tensors = [
                pb_utils.Tensor(name, output[start : start + size].astype(dtype))
                for name, output, dtype in zip(self.output_names, outputs, self.output_dtypes)
            ]
            responses.append(pb_utils.InferenceResponse(output_tensors=tensors))
            start += size
        return responses

    def finalize(self):
        """Release the onnxruntime session."""
        self.session = None


def _pad(array, length):
    """Right-pad a [batch, seq] array with zeros to ``length`` (zero mask: ignored by the model)."""
    return np.pad(array, ((0, 0), (0, length - array.shape[1])))
