"""Export a checkpoint to ONNX with temperature scaling and softmax folded into the graph.

The graph takes the tokenizer's arrays (``input_ids``, ``attention_mask`` and, for BERT-style
encoders, ``token_type_ids``) with dynamic batch and sequence axes, and returns ``logits`` and
``probabilities`` = softmax(logits / temperature).
"""

import logging
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from ticket_classifier.build.model_configs import CLASSIFIER_OUTPUTS
from ticket_classifier.errors import TicketClassifierError
from ticket_classifier.training.checkpoint import Checkpoint, load_checkpoint
from ticket_classifier.training.inference import predict_logits, softmax

log = logging.getLogger(__name__)

ONNX_OPSET = 17
PARITY_ATOL = 1e-4


class CalibratedClassifier(torch.nn.Module):
    """Wraps a sequence classifier: positional inputs in tokenizer order, logits and calibrated probabilities out."""

    def __init__(self, model, input_names: Sequence[str], temperature: float) -> None:
        super().__init__()
        self.model = model
        self.input_names = tuple(input_names)
        self.register_buffer("temperature", torch.tensor(float(temperature)))

    def forward(self, *inputs: torch.Tensor):
        """``(logits, probabilities)`` for the given input arrays."""
        logits = self.model(**dict(zip(self.input_names, inputs))).logits
        return logits, torch.softmax(logits / self.temperature, dim=-1)


def export_onnx(checkpoint: Checkpoint, output_path: "str | Path") -> Path:
    """Write ``checkpoint`` as an ONNX model with dynamic batch and sequence axes."""
    output_path = Path(output_path)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    input_names = list(checkpoint.tokenizer.input_names)
    wrapper = CalibratedClassifier(checkpoint.model.eval(), input_names, checkpoint.temperature).eval()
    sample = checkpoint.tokenizer.encode(["Printer on floor 2 is jammed again", "VPN drops every few minutes"])
    dynamic_axes = {name: {0: "batch", 1: "sequence"} for name in input_names}
    dynamic_axes.update({name: {0: "batch"} for name in CLASSIFIER_OUTPUTS})
    with warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            wrapper,
            tuple(torch.from_numpy(sample[name]) for name in input_names),
            str(output_path),
            input_names=input_names,
            output_names=list(CLASSIFIER_OUTPUTS),
            dynamic_axes=dynamic_axes,
            opset_version=ONNX_OPSET,
            dynamo=False,
        )
    return output_path


def check_onnx_parity(checkpoint: Checkpoint, onnx_path: "str | Path", texts: Sequence[str]) -> float:
    """Run ``texts`` through PyTorch and onnxruntime; fail unless probabilities agree within tolerance.

    Returns the largest absolute probability difference.
    """
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    expected = softmax(predict_logits(checkpoint.model, checkpoint.tokenizer, texts), checkpoint.temperature)
    inputs = checkpoint.tokenizer.encode(list(texts))
    probabilities = session.run(["probabilities"], inputs)[0]
    difference = float(np.abs(probabilities - expected).max())
    if difference > PARITY_ATOL or (probabilities.argmax(1) != expected.argmax(1)).any():
        raise TicketClassifierError(
            f"ONNX export of {checkpoint.directory} disagrees with PyTorch: max probability difference {difference:.2e}"
        )
    return difference


def export_checkpoint(checkpoint_dir: "str | Path", output_path: "str | Path", parity_texts: Sequence[str]) -> Path:
    """Load a checkpoint, export it and check the export against PyTorch on ``parity_texts``."""
    checkpoint = load_checkpoint(checkpoint_dir)
    path = export_onnx(checkpoint, output_path)
    difference = check_onnx_parity(checkpoint, path, parity_texts)
    log.info("exported %s (max probability difference vs PyTorch %.1e)", path, difference)
    return path
