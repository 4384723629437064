"""Batched PyTorch inference on texts: the reference that exports and serving are compared with."""

from collections.abc import Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from ticket_classifier.runtime.tokenization import TicketTokenizer


def predict_logits(
    model, tokenizer: TicketTokenizer, texts: Sequence[str], *, batch_size: int = 64, progress: str | None = None
) -> np.ndarray:
    """Logits for ``texts`` (rows in input order), computed on the model's device; batches are formed by length
    to save padding. ``progress``: the description of a progress bar (default: no bar)."""
    order = np.argsort([len(text) for text in texts], kind="stable")
    logits = np.zeros((len(texts), model.config.num_labels), dtype=np.float32)
    model.eval()
    device = model.device
    with torch.inference_mode():
        starts = range(0, len(texts), batch_size)
        for start in tqdm(starts, desc=progress, unit="batch", disable=progress is None):
            rows = order[start : start + batch_size]
            inputs = tokenizer.encode([texts[i] for i in rows])
            output = model(**{name: torch.from_numpy(array).to(device) for name, array in inputs.items()})
            logits[rows] = output.logits.float().cpu().numpy()
    return logits


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Row-wise softmax of ``logits / temperature``."""
    scaled = logits / temperature
    scaled = scaled - scaled.max(axis=1, keepdims=True)
    exp = np.exp(scaled)
    return exp / exp.sum(axis=1, keepdims=True)
