"""Parity gates: every exported variant must serve what PyTorch would, on held-out real texts.

Three gates per precision, all of which must pass (:data:`GATES`):

* **top-1 agreement** with PyTorch: the routed category;
* **mean absolute probability difference** over every class of every text: the calibrated
  probabilities themselves, which temperature scaling changes and top-1 agreement cannot see
  (a graph whose temperature was lost agrees on every top-1 and fails here);
* **review-decision agreement** under the review policy: whether a person is asked to look;
  with a novelty detector, the policy's ``unknown_category`` rule included, and the
  **novelty-flag agreement** (the detector's own decision, ONNX against PyTorch) gated at the
  same level. A text whose PyTorch and variant novelty scores both lie within the precision's
  noise of the threshold (:data:`NOVELTY_TIE_BANDS`) is a tie: the variant's score of it is taken
  as PyTorch's for both comparisons, so float noise on a score that sits on the threshold is not a
  flipped decision. A degenerate model (near-constant features, many scores on the threshold)
  otherwise failed FP32 by noise alone; a variant that moves scores away from the threshold still
  fails.

Thresholds (measured on the demo model, 299 held-out texts, 2026-11-27): FP32 differs from
PyTorch by about 2e-8 on average, FP16 by 2e-5; dynamic INT8 by 1.6e-3 on average but up to
0.22 on a near-tie, which flipped 3 of 299 review decisions (99.0 %). The largest difference
is reported, not gated: one near-tie would decide it. Also reported: the macro-F1 difference
against the true labels. The execution provider is a parameter, so the GPU check
(:mod:`ticket_classifier.build.gpu_check`) runs the very same comparison.
"""

import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from sklearn.metrics import f1_score

from ticket_classifier.errors import TicketClassifierError
from ticket_classifier.runtime.contract import NOVELTY_SCORE, PROBABILITIES
from ticket_classifier.runtime.review import ReviewPolicy
from ticket_classifier.runtime.tokenization import TicketTokenizer

BATCH_SIZE = 64
CPU = "CPUExecutionProvider"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Gate:
    """The minimum agreements and the largest mean probability difference one precision may have."""

    top1_agreement: float
    mean_probability_difference: float
    review_agreement: float


GATES = {
    "fp32": Gate(top1_agreement=0.999, mean_probability_difference=1e-4, review_agreement=0.999),
    "fp16": Gate(top1_agreement=0.999, mean_probability_difference=1e-3, review_agreement=0.995),
    "int8": Gate(top1_agreement=0.99, mean_probability_difference=1e-2, review_agreement=0.98),
}
# How close to the novelty threshold, relative to it, a PyTorch score is a tie: 25x and 3.5x the
# largest relative novelty-score change measured on the demo model (FP32 4e-6, FP16 2.8e-3; 299
# parity texts, `make demo` of 2026-11-29). INT8 has none: its change is what the gate judges.
NOVELTY_TIE_BANDS = {"fp32": 1e-4, "fp16": 1e-2, "int8": 0.0}


def onnx_outputs(
    onnx_path: "str | Path", tokenizer: TicketTokenizer, texts: list[str], names, provider: str = CPU
) -> list[np.ndarray]:
    """The ``names`` outputs from onnxruntime with ``provider``, batched and padded as in serving."""
    import onnxruntime as ort

    if provider not in ort.get_available_providers():
        raise TicketClassifierError(
            f"{provider} is not available here (have: {', '.join(ort.get_available_providers())})"
        )
    session = ort.InferenceSession(str(onnx_path), providers=[provider])
    batches = [
        session.run(list(names), tokenizer.encode(texts[start : start + BATCH_SIZE]))
        for start in range(0, len(texts), BATCH_SIZE)
    ]
    return [np.concatenate([batch[i] for batch in batches]) for i in range(len(names))]


def onnx_probabilities(
    onnx_path: "str | Path", tokenizer: TicketTokenizer, texts: list[str], provider: str = CPU
) -> np.ndarray:
    """Calibrated probabilities from onnxruntime (see :func:`onnx_outputs`)."""
    return onnx_outputs(onnx_path, tokenizer, texts, [PROBABILITIES], provider)[0]


def review_decisions(
    probabilities: np.ndarray, labels: list[str], policy: ReviewPolicy, novelty: np.ndarray | None = None
) -> np.ndarray:
    """Whether ``policy`` sends each ticket to a person (``novelty``: the tickets' novelty scores)."""
    novelty = np.zeros(len(probabilities)) if novelty is None else np.asarray(novelty).reshape(-1)
    return np.array(
        [policy.decide(dict(zip(labels, row.tolist())), float(score))[0] for row, score in zip(probabilities, novelty)],
        dtype=bool,
    )


def measure(
    probabilities: np.ndarray,
    reference: np.ndarray,
    labels: list[str],
    policy: ReviewPolicy,
    novelty: np.ndarray | None = None,
    reference_novelty: np.ndarray | None = None,
    novelty_tie_band: float = 0.0,
) -> dict:
    """The gated numbers of ``probabilities`` (and ``novelty``) against the PyTorch ``reference`` (same
    texts, same order); ``novelty_tie_band``: the precision's entry of :data:`NOVELTY_TIE_BANDS`."""
    scored = novelty is not None and reference_novelty is not None and policy.novelty_threshold is not None
    if scored:
        raw_novelty, reference_novelty = np.asarray(novelty).reshape(-1), np.asarray(reference_novelty).reshape(-1)
        band = novelty_tie_band * abs(policy.novelty_threshold)
        ties = (np.abs(reference_novelty - policy.novelty_threshold) < band) & (
            np.abs(raw_novelty - policy.novelty_threshold) < band
        )
        novelty = np.where(ties, reference_novelty, raw_novelty)
    measured = {
        "top1_agreement": float((probabilities.argmax(1) == reference.argmax(1)).mean()),
        "mean_probability_difference": float(np.abs(probabilities - reference).mean()),
        "review_agreement": float(
            (
                review_decisions(probabilities, labels, policy, novelty)
                == review_decisions(reference, labels, policy, reference_novelty)
            ).mean()
        ),
    }
    if scored:
        flags = novelty > policy.novelty_threshold
        measured["novelty_agreement"] = float((flags == (reference_novelty > policy.novelty_threshold)).mean())
        measured["novelty_ties"] = int(ties.sum())
        measured["max_novelty_relative_difference"] = float(
            (np.abs(raw_novelty - reference_novelty) / np.maximum(np.abs(reference_novelty), 1e-6)).max()
        )
    return measured


def judge(measured: dict, gate: Gate) -> list[str]:
    """Every gate that ``measured`` fails, in words (empty when it passes)."""
    failures = []
    if measured["top1_agreement"] < gate.top1_agreement:
        failures.append(f"top-1 agreement {measured['top1_agreement']:.4f} < gate {gate.top1_agreement}")
    if measured["mean_probability_difference"] > gate.mean_probability_difference:
        failures.append(
            f"mean probability difference {measured['mean_probability_difference']:.2e} > gate "
            f"{gate.mean_probability_difference:g}"
        )
    if measured["review_agreement"] < gate.review_agreement:
        failures.append(f"review-decision agreement {measured['review_agreement']:.4f} < gate {gate.review_agreement}")
    if "novelty_agreement" in measured and measured["novelty_agreement"] < gate.review_agreement:
        failures.append(f"novelty-flag agreement {measured['novelty_agreement']:.4f} < gate {gate.review_agreement}")
    return failures


@dataclass(frozen=True)
class CalibrationCheck:
    """The parity gates' measures of a model file on calibration texts, for the INT8 sensitivity pass
    (:func:`ticket_classifier.build.quantization.quantize_keeping_sensitive_nodes`): the ONNX outputs
    against a reference's, judged by ``gate``."""

    tokenizer: TicketTokenizer
    texts: list[str]
    labels: list[str]
    policy: ReviewPolicy
    gate: Gate

    def outputs(self, onnx_path: "str | Path") -> tuple[np.ndarray, np.ndarray]:
        """Probabilities and novelty scores of the model at ``onnx_path`` on the texts."""
        probabilities, novelty = onnx_outputs(onnx_path, self.tokenizer, self.texts, [PROBABILITIES, NOVELTY_SCORE])
        return probabilities, novelty

    def measure(self, outputs: tuple, reference: tuple) -> dict:
        """The gated numbers of ``outputs`` against ``reference`` (both from :meth:`outputs`)."""
        return measure(
            outputs[0], reference[0], self.labels, self.policy, outputs[1], reference[1], NOVELTY_TIE_BANDS["int8"]
        )

    def distance(self, outputs: tuple, reference: tuple) -> float:
        """How far ``outputs`` moved from ``reference``: the mean probability difference plus the mean
        novelty difference in units of the policy's novelty threshold (what the review decision compares)."""
        moved = float(np.abs(outputs[0] - reference[0]).mean())
        if self.policy.novelty_threshold:
            moved += float(np.abs(outputs[1] - reference[1]).mean() / abs(self.policy.novelty_threshold))
        return moved


def compare_variant(
    precision: str,
    onnx_path: Path,
    reference: np.ndarray,
    tokenizer: TicketTokenizer,
    texts: list[str],
    targets: np.ndarray | None,
    *,
    labels: list[str],
    policy: ReviewPolicy,
    gate: Gate | None = None,
    provider: str = CPU,
    reference_novelty: np.ndarray | None = None,
) -> dict:
    """Parity numbers of one variant against the PyTorch ``reference`` probabilities (and, when given,
    novelty scores), judged by ``gate`` (default: :data:`GATES` of the precision)."""
    gate = gate or GATES[precision]
    started = time.perf_counter()
    names = [PROBABILITIES] if reference_novelty is None else [PROBABILITIES, NOVELTY_SCORE]
    probabilities, *novelty = onnx_outputs(onnx_path, tokenizer, texts, names, provider)
    seconds = time.perf_counter() - started
    tie_band = NOVELTY_TIE_BANDS[precision]
    measured = measure(
        probabilities, reference, labels, policy, novelty[0] if novelty else None, reference_novelty, tie_band
    )
    failures = judge(measured, gate)
    result = {
        "precision": precision,
        "file": onnx_path.name,
        "size_mb": round(onnx_path.stat().st_size / 2**20, 1),
        "examples": len(texts),
        **measured,
        "max_probability_difference": float(np.abs(probabilities - reference).max()),
        "gate": asdict(gate),
        "novelty_tie_band": tie_band,
        "passed": not failures,
        "failures": failures,
        "provider": provider,
        "cpu_seconds_for_sample": round(seconds, 2),
    }
    if targets is not None:
        reference_f1 = f1_score(targets, reference.argmax(1), average="macro", zero_division=0)
        variant_f1 = f1_score(targets, probabilities.argmax(1), average="macro", zero_division=0)
        result.update(macro_f1=float(variant_f1), macro_f1_difference=float(variant_f1 - reference_f1))
    return result


def enforce_gates(results: list[dict], report_path: Path) -> None:
    """Fail, naming every failing variant and gate, when FP32 failed (the export itself is wrong) or no
    variant passed. A faster precision that failed alone (its file deleted: never servable) is a warning:
    ``precision: auto`` serves the fastest one that passed, and a build that names it refuses it."""
    failed = [result for result in results if not result["passed"]]
    if not failed:
        return
    details = "; ".join(f"{result['precision']}: {', '.join(result['failures'])}" for result in failed)
    if len(failed) == len(results) or any(result["precision"] == "fp32" for result in failed):
        raise TicketClassifierError(f"parity gate failed ({details}); details in {report_path}")
    log.warning(
        "parity gate failed (%s): deleted, not servable; precision auto serves the fastest precision that passed "
        "(details in %s)",
        details,
        report_path,
    )
