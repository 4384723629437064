"""The services a user would build instead of Triton, as FastAPI apps (``uvicorn --factory``).

* ``fastapi-pytorch``: the seed-style service: PyTorch FP32 eager, one request per model call,
  a synchronous endpoint (FastAPI's thread pool), one process using every core.
* ``fastapi-onnxruntime``: a competent one: the exported ONNX model (INT8 on CPU) in onnxruntime, one
  ``uvicorn`` worker process per core, each with one onnxruntime thread and spinning off
  (``runtime/onnx_threads.py``), the model called directly in the event loop.

Both answer ``POST /classify`` with ``{"subject": ..., "description": ...}`` exactly what the
served ensemble answers (category, confidence, top-k, review decision and reasons, version),
computed with the same tokenizer and review policy, and ``GET /health``. Configured by the
environment variables of :data:`ENVIRONMENT`, which :mod:`ticket_classifier.performance.peers` sets.
"""

import json
import os
from pathlib import Path

import numpy as np

from ticket_classifier.runtime.contract import LABELS_FILENAME, PROBABILITIES, REVIEW_POLICY_FILENAME
from ticket_classifier.runtime.onnx_threads import intra_op_threads, spinning_entries
from ticket_classifier.runtime.review import ReviewPolicy
from ticket_classifier.runtime.text import join_ticket_text
from ticket_classifier.runtime.tokenization import TicketTokenizer

ENVIRONMENT = {
    "engine": "TICKET_PEER_ENGINE",  # pytorch or onnxruntime
    "checkpoint": "TICKET_PEER_CHECKPOINT",
    "onnx": "TICKET_PEER_ONNX",
    "threads": "TICKET_PEER_THREADS",
    "top_k": "TICKET_PEER_TOP_K",
}


def pytorch_predictor(checkpoint: Path, threads: int):
    """Texts -> calibrated probabilities with the checkpoint's PyTorch model, one call per request."""
    import torch

    from ticket_classifier.training.checkpoint import load_checkpoint
    from ticket_classifier.training.inference import softmax

    torch.set_num_threads(threads)
    loaded = load_checkpoint(checkpoint)

    def predict(text: str) -> np.ndarray:
        with torch.inference_mode():
            inputs = {name: torch.from_numpy(array) for name, array in loaded.tokenizer.encode([text]).items()}
            logits = loaded.model(**inputs).logits.numpy()
        return softmax(logits, loaded.temperature)[0]

    return predict


def onnxruntime_predictor(checkpoint: Path, onnx_path: Path, threads: int):
    """Texts -> calibrated probabilities with the exported ONNX model (its probabilities output)."""
    import onnxruntime as ort

    tokenizer = TicketTokenizer.from_directory(checkpoint)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    for key, value in spinning_entries(False).items():
        options.add_session_config_entry(key, value)
    session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])

    def predict(text: str) -> np.ndarray:
        return session.run([PROBABILITIES], tokenizer.encode([text]))[0][0]

    return predict


def create_app():
    """The FastAPI app of the engine named in the environment."""
    from fastapi import FastAPI
    from pydantic import BaseModel

    checkpoint = Path(os.environ[ENVIRONMENT["checkpoint"]])
    engine = os.environ[ENVIRONMENT["engine"]]
    threads = intra_op_threads(int(os.environ.get(ENVIRONMENT["threads"], "0")), 1)
    top_k = int(os.environ.get(ENVIRONMENT["top_k"], "3"))
    if engine == "pytorch":
        predict = pytorch_predictor(checkpoint, threads)
    else:
        predict = onnxruntime_predictor(checkpoint, Path(os.environ[ENVIRONMENT["onnx"]]), threads)
    labels = json.loads((checkpoint / LABELS_FILENAME).read_text(encoding="utf-8"))
    policy = ReviewPolicy(**json.loads((checkpoint / REVIEW_POLICY_FILENAME).read_text(encoding="utf-8")))
    version = f"{engine}-{checkpoint.name}"

    class Ticket(BaseModel):
        subject: str = ""
        description: str = ""

    def classify(ticket: Ticket) -> dict:
        probabilities = predict(join_ticket_text([ticket.subject, ticket.description]))
        order = np.argsort(-probabilities, kind="stable")
        requires_review, reasons = policy.decide(dict(zip(labels, probabilities.tolist())))
        return {
            "category": labels[order[0]],
            "confidence": float(probabilities[order[0]]),
            "top_labels": [labels[index] for index in order[:top_k]],
            "top_scores": [float(probabilities[index]) for index in order[:top_k]],
            "requires_review": requires_review,
            "review_reasons": reasons,
            "model_version": version,
        }

    app = FastAPI()
    app.get("/health")(lambda: {"status": "ok"})
    if engine == "pytorch":
        app.post("/classify")(classify)  # seed style: a plain def, run in FastAPI's thread pool
    else:

        async def classify_in_loop(ticket: Ticket) -> dict:
            return classify(ticket)  # one worker per core: the model call blocks this worker's loop only

        app.post("/classify")(classify_in_loop)
    return app
