"""Parity gates: every exported variant must agree with PyTorch on held-out real texts.

For each variant: top-1 agreement with PyTorch, the largest absolute probability difference,
and the macro-F1 difference against the true labels. A variant whose agreement is below its
gate fails the build with a message that names it.
"""

import time
from pathlib import Path

import numpy as np
from sklearn.metrics import f1_score

from ticket_classifier.errors import TicketClassifierError
from ticket_classifier.tokenization import TicketTokenizer

TOP1_AGREEMENT_GATES = {"fp32": 0.999, "fp16": 0.999, "int8": 0.99}
BATCH_SIZE = 64


def onnx_probabilities(onnx_path: "str | Path", tokenizer: TicketTokenizer, texts: list[str]) -> np.ndarray:
    """Probabilities from onnxruntime on CPU, batched and bucket-padded as in serving."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    rows = [
        session.run(["probabilities"], tokenizer.encode(texts[start : start + BATCH_SIZE]))[0]
        for start in range(0, len(texts), BATCH_SIZE)
    ]
    return np.concatenate(rows)


def compare_variant(
    precision: str,
    onnx_path: Path,
    reference: np.ndarray,
    tokenizer: TicketTokenizer,
    texts: list[str],
    targets: np.ndarray | None,
) -> dict:
    """Parity numbers of one variant against the PyTorch ``reference`` probabilities."""
    started = time.perf_counter()
    probabilities = onnx_probabilities(onnx_path, tokenizer, texts)
    seconds = time.perf_counter() - started
    agreement = float((probabilities.argmax(1) == reference.argmax(1)).mean())
    result = {
        "precision": precision,
        "file": onnx_path.name,
        "size_mb": round(onnx_path.stat().st_size / 2**20, 1),
        "examples": len(texts),
        "top1_agreement": agreement,
        "gate": TOP1_AGREEMENT_GATES[precision],
        "passed": agreement >= TOP1_AGREEMENT_GATES[precision],
        "max_probability_difference": float(np.abs(probabilities - reference).max()),
        "cpu_seconds_for_sample": round(seconds, 2),
    }
    if targets is not None:
        reference_f1 = f1_score(targets, reference.argmax(1), average="macro", zero_division=0)
        variant_f1 = f1_score(targets, probabilities.argmax(1), average="macro", zero_division=0)
        result.update(macro_f1=float(variant_f1), macro_f1_difference=float(variant_f1 - reference_f1))
    return result


def enforce_gates(results: list[dict], report_path: Path) -> None:
    """Fail, naming every failing variant, unless all passed."""
    failed = [result for result in results if not result["passed"]]
    if failed:
        details = "; ".join(
            f"{result['precision']}: top-1 agreement {result['top1_agreement']:.4f} < gate {result['gate']}"
            for result in failed
        )
        raise TicketClassifierError(f"parity gate failed ({details}); details in {report_path}")
