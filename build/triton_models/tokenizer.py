"""Triton model: SUBJECT and DESCRIPTION strings -> padded token arrays.

All requests of one ``execute`` are tokenized in a single pass; each request is padded to its
own length bucket so that the classifier's dynamic batcher can merge requests of equal shape.
"""

import json
from pathlib import Path

import triton_python_backend_utils as pb_utils
from ticket_text import join_ticket_text
from ticket_tokenization import TicketTokenizer


class TritonPythonModel:
    """Tokenizer step of the ticket_classifier ensemble."""

    def initialize(self, args):
        """Load the tokenizer saved beside this file and read output dtypes from the config."""
        config = json.loads(args["model_config"])
        self.tokenizer = TicketTokenizer.from_directory(Path(args["model_repository"]) / args["model_version"])
        self.output_dtypes = {
            output["name"]: pb_utils.triton_string_to_numpy(output["data_type"]) for output in config["output"]
        }
        self.input_names = [entry["name"] for entry in config["input"]]
        parameters = {key: value["string_value"] for key, value in config.get("parameters", {}).items()}
        self.bucketed = parameters.get("length_bucketing", "true") == "true"

    def execute(self, requests):
        """Tokenize every request of the batch in one pass; a bad request gets its own error."""
        responses = [None] * len(requests)
        groups, positions = [], []
        for position, request in enumerate(requests):
            try:
                groups.append(self._texts(request))
                positions.append(position)
            except ValueError as exc:
                responses[position] = pb_utils.InferenceResponse(error=pb_utils.TritonError(str(exc)))
        for position, arrays in zip(positions, self.tokenizer.encode_groups(groups, bucketed=self.bucketed)):
            tensors = [pb_utils.Tensor(name, arrays[name].astype(dtype)) for name, dtype in self.output_dtypes.items()]
            responses[position] = pb_utils.InferenceResponse(output_tensors=tensors)
        return responses

    def _texts(self, request):
        """The joined ticket texts of one request, validated."""
        fields = [pb_utils.get_input_tensor_by_name(request, name).as_numpy().reshape(-1) for name in self.input_names]
        texts = []
        for row, values in enumerate(zip(*fields)):
            decoded = [_decode(value, name, row) for value, name in zip(values, self.input_names)]
            text = join_ticket_text(decoded)
            if not text:
                raise ValueError(f"ticket {row}: {' and '.join(self.input_names)} are all empty")
            texts.append(text)
        return texts

    def finalize(self):
        """Nothing to release."""
        self.tokenizer = None


def _decode(value, name, row):
    """A UTF-8 string from a TYPE_STRING element."""
    if isinstance(value, str):
        return value
    try:
        return bytes(value).decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"ticket {row}: {name} is not valid UTF-8") from None
