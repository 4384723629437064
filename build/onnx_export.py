"""Export a checkpoint to FP32, FP16 and INT8 ONNX behind parity gates.

Each graph takes the tokenizer's arrays (``input_ids``, ``attention_mask`` and, for
BERT-style encoders, ``token_type_ids``) with dynamic batch and sequence axes and returns
``logits`` and ``probabilities`` = softmax(logits / temperature): calibration is folded into
the graph. The FP32 graph is fused by ONNX Runtime's transformer optimizer; FP16 is the
fused graph in half precision with FP32 inputs and outputs; INT8 is the fused FP32 graph
dynamically quantized with the preset for this CPU. Every variant is compared with PyTorch
on held-out real texts (:mod:`ticket_classifier.build.parity`: top-1 agreement, mean probability
difference, review-decision agreement under the checkpoint's review policy), the results are written to
``build_report.json``; a variant below its gate is deleted (nothing servable is left of it),
recorded as failed, and fails the export; ``build-repository`` refuses it.
"""

import datetime
import json
import logging
import warnings
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from ticket_classifier.build.graph_optimization import DETECTOR_INITIALIZERS, optimize_transformer
from ticket_classifier.build.layout import onnx_filename
from ticket_classifier.build.parity import GATES, CalibrationCheck, Gate, compare_variant, enforce_gates
from ticket_classifier.build.precisions import DEFAULT_INT8_SCHEME, INT8_SCHEMES, PRECISIONS
from ticket_classifier.build.quantization import (
    CALIBRATION_GATE,
    PRESETS,
    preset_for_this_cpu,
    quantize_int8,
    quantize_keeping_sensitive_nodes,
)
from ticket_classifier.errors import TicketClassifierError
from ticket_classifier.runtime.contract import BUILD_REPORT_FILENAME, CLASSIFIER_OUTPUTS
from ticket_classifier.training.checkpoint import (
    Checkpoint,
    load_checkpoint,
    load_config_snapshot,
    read_review_policy,
    read_split,
)
from ticket_classifier.training.inference import softmax
from ticket_classifier.training.novelty import (
    MahalanobisDetector,
    features_and_logits,
    head_layer,
    load_detector,
    served_policy,
)

log = logging.getLogger(__name__)

ONNX_OPSET = 17
PARITY_SEED = 7
CALIBRATION_TEXTS = 1024  # validation texts the INT8 sensitivity pass is measured on


class CalibratedClassifier(torch.nn.Module):
    """Wraps a sequence classifier: positional inputs in tokenizer order; logits, calibrated probabilities
    and the novelty score out (the Mahalanobis distance of the head's input features to the nearest
    class mean, :class:`~ticket_classifier.training.novelty.MahalanobisDetector`; 0 without a detector)."""

    def __init__(self, model, input_names, temperature: float, detector: MahalanobisDetector | None = None) -> None:
        super().__init__()
        self.model = model
        self.head = head_layer(model)
        self.input_names = tuple(input_names)
        self.register_buffer("temperature", torch.tensor(float(temperature)))
        self.has_detector = detector is not None
        if detector is not None:
            factor = torch.from_numpy(detector.precision_factor.astype(np.float32))
            centres = torch.from_numpy(detector.means.astype(np.float32)) @ factor
            self.register_buffer(DETECTOR_INITIALIZERS[0], factor)
            self.register_buffer(DETECTOR_INITIALIZERS[1], centres.T.contiguous())
            self.register_buffer("novelty_centre_norms", (centres * centres).sum(dim=1))

    def forward(self, *inputs: torch.Tensor):
        """``(logits, probabilities, novelty)`` for the given input arrays."""
        captured = []
        hook = self.head.register_forward_hook(lambda module, arguments, output: captured.append(arguments[0]))
        try:
            logits = self.model(**dict(zip(self.input_names, inputs))).logits
        finally:
            hook.remove()
        probabilities = torch.softmax(logits / self.temperature, dim=-1)
        if not self.has_detector:
            return logits, probabilities, torch.zeros_like(logits[:, :1])
        projected = captured[0] @ self.novelty_precision_factor
        distances = (
            (projected * projected).sum(dim=1, keepdim=True)
            - 2 * projected @ self.novelty_centres
            + self.novelty_centre_norms
        )
        return logits, probabilities, distances.min(dim=1, keepdim=True).values.clamp_min(0.0)


def export_raw_onnx(checkpoint: Checkpoint, output_path: Path, detector: MahalanobisDetector | None = None) -> Path:
    """The un-optimised FP32 graph straight from PyTorch (TorchScript exporter, eager attention)."""
    input_names = list(checkpoint.tokenizer.input_names)
    wrapper = CalibratedClassifier(checkpoint.model.eval(), input_names, checkpoint.temperature, detector).eval()
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


def parity_sample(checkpoint_dir: Path, parity_data: str | None, limit: int) -> tuple[list[str], np.ndarray, str]:
    """Held-out texts and their label indices: ``parity_data``, or the test split stored in the checkpoint."""
    from ticket_classifier.labels import read_labels
    from ticket_classifier.training.data import DataReport, load_labeled_texts
    from ticket_classifier.training.evaluation import targets_for

    if parity_data:
        config = load_config_snapshot(checkpoint_dir)
        loaded = load_labeled_texts(parity_data, config.data, DataReport())
        texts, labels, source = loaded.texts, loaded.labels, parity_data
    else:
        texts, labels = read_split(checkpoint_dir, "test")
        source = "checkpoint's stored test split"
    if len(texts) > limit:
        chosen = np.random.default_rng(PARITY_SEED).choice(len(texts), limit, replace=False)
        texts, labels = [texts[i] for i in chosen], [labels[i] for i in chosen]
    targets = targets_for(labels, read_labels(checkpoint_dir), source)
    return texts, targets, f"{len(texts)} texts from the {source}"


def export_variants(
    checkpoint_dir: "str | Path",
    output_dir: "str | Path",
    *,
    precisions: tuple[str, ...] = PRECISIONS,
    parity_data: str | None = None,
    parity_samples: int = 1000,
    quantization_preset: str | None = None,
    int8_scheme: str = DEFAULT_INT8_SCHEME,
    gates: dict[str, Gate] | None = None,
) -> dict:
    """Export every requested precision into ``output_dir``, check parity, write and return the build report.

    INT8 uses ``int8_scheme`` (:data:`INT8_SCHEMES`); ``sensitivity`` calibrates on texts of the
    checkpoint's validation split, never on the parity sample (the test split).
    """
    unknown = [precision for precision in precisions if precision not in PRECISIONS]
    if unknown or not precisions:
        raise TicketClassifierError(f"precisions must be among {', '.join(PRECISIONS)}, got {', '.join(precisions)}")
    if int8_scheme not in INT8_SCHEMES:
        raise TicketClassifierError(f"unknown INT8 scheme {int8_scheme!r} ({', '.join(INT8_SCHEMES)})")
    if quantization_preset is not None and quantization_preset not in PRESETS:
        raise TicketClassifierError(f"unknown quantization preset {quantization_preset!r} ({', '.join(PRESETS)})")
    checkpoint_dir, output_dir = Path(checkpoint_dir), Path(output_dir)
    checkpoint = load_checkpoint(checkpoint_dir, attn_implementation="eager")
    texts, targets, sample_description = parity_sample(checkpoint_dir, parity_data, parity_samples)
    calibration = calibration_texts(checkpoint_dir) if "int8" in precisions and int8_scheme != "dynamic" else []
    output_dir.mkdir(parents=True, exist_ok=True)
    config = checkpoint.model.config
    heads = getattr(config, "num_attention_heads", None) or config.n_heads
    hidden = getattr(config, "hidden_size", None) or config.dim
    preset = PRESETS[quantization_preset] if quantization_preset else preset_for_this_cpu()
    detector = load_detector(checkpoint_dir)
    if detector is None:
        log.warning("%s has no novelty detector (trained before they existed): its NOVELTY is 0", checkpoint_dir)
    policy = read_review_policy(checkpoint_dir)
    policy = served_policy(policy, detector)
    check = CalibrationCheck(checkpoint.tokenizer, calibration, checkpoint.labels, policy, CALIBRATION_GATE)
    raw = output_dir / "model.raw.onnx"
    try:
        export_raw_onnx(checkpoint, raw, detector)
        fused = optimize_transformer(raw, output_dir / onnx_filename("fp32"), num_heads=heads, hidden_size=hidden)
        if "fp16" in precisions:
            optimize_transformer(
                raw, output_dir / onnx_filename("fp16"), num_heads=heads, hidden_size=hidden, fp16=True
            )
        quantization = None
        if "int8" in precisions:
            quantization = quantize(output_dir, preset, int8_scheme, check)
    finally:
        raw.unlink(missing_ok=True)
    features, logits = features_and_logits(checkpoint.model, checkpoint.tokenizer, texts)
    reference = softmax(logits, checkpoint.temperature)
    reference_novelty = detector.score(features) if detector else np.zeros(len(texts), dtype=np.float32)
    gates = {**GATES, **(gates or {})}
    results = []
    for precision in precisions:
        result = compare_variant(
            precision,
            output_dir / onnx_filename(precision),
            reference,
            checkpoint.tokenizer,
            texts,
            targets,
            labels=checkpoint.labels,
            policy=policy,
            gate=gates[precision],
            reference_novelty=reference_novelty,
        )
        results.append(result)
        log.info(
            "%s: top-1 agreement %.4f, mean probability difference %.2e, review agreement %.4f: %s",
            precision,
            result["top1_agreement"],
            result["mean_probability_difference"],
            result["review_agreement"],
            "passed" if result["passed"] else "FAILED (" + ", ".join(result["failures"]) + ")",
        )
    if "fp32" not in precisions:
        (output_dir / onnx_filename("fp32")).unlink()
    for result in results:
        if not result["passed"]:  # a variant below its gate leaves nothing that could be served
            (output_dir / onnx_filename(result["precision"])).unlink(missing_ok=True)
            result["file"] = None
    report = {
        "checkpoint": str(checkpoint_dir.resolve()),
        "created_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "temperature": checkpoint.temperature,
        "parity_sample": sample_description,
        "gates": {precision: asdict(gate) for precision, gate in gates.items()},
        "review_policy": asdict(policy),
        "fused_operators": fused,
        "quantization_preset": preset.__dict__ if "int8" in precisions else None,
        "int8_quantization": quantization,
        "variants": results,
    }
    report_path = output_dir / BUILD_REPORT_FILENAME
    report_path.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    enforce_gates(results, report_path)
    return report


def calibration_texts(checkpoint_dir: Path) -> list[str]:
    """Up to ``CALIBRATION_TEXTS`` texts of the checkpoint's validation split (never the test split, which
    the parity gates use)."""
    try:
        texts, _ = read_split(checkpoint_dir, "validation")
    except TicketClassifierError:
        raise TicketClassifierError(
            f"checkpoint {checkpoint_dir} has no stored validation split for the INT8 sensitivity pass (it was "
            "trained by an older ticket-classifier): train it again, or export with --int8-scheme dynamic"
        ) from None
    if len(texts) > CALIBRATION_TEXTS:
        chosen = np.random.default_rng(PARITY_SEED).choice(len(texts), CALIBRATION_TEXTS, replace=False)
        texts = [texts[i] for i in chosen]
    return texts


def quantize(output_dir: Path, preset, scheme: str, check: CalibrationCheck) -> dict:
    """Write ``model.int8.onnx`` from the FP32 export with ``scheme`` (``check``: its calibration texts and
    their measures); what the scheme decided."""
    source, destination = output_dir / onnx_filename("fp32"), output_dir / onnx_filename("int8")
    if scheme == "dynamic":
        quantize_int8(source, destination, preset)
        return {"scheme": scheme, "kept_fp32": []}
    result = quantize_keeping_sensitive_nodes(source, destination, preset, check)
    log.info(
        "INT8 %s: kept in FP32 %s (calibration texts: top-1 agreement %.4f, review agreement %.4f)",
        scheme,
        result["kept_fp32"] or "no node",
        result["calibration"]["top1_agreement"],
        result["calibration"]["review_agreement"],
    )
    return {**result, "calibration_texts": len(check.texts)}


def parity_table(report: dict) -> str:
    """The build report's parity results as a plain-text table."""
    lines = [
        f"{'precision':<10} {'size MB':>8} {'top-1 agree':>12} {'mean |dp|':>10} {'review agree':>13} "
        f"{'max |dp|':>10} {'dF1':>8}  ok"
    ]
    for result in report["variants"]:
        lines.append(
            f"{result['precision']:<10} {result['size_mb']:>8.1f} {result['top1_agreement']:>12.4f} "
            f"{result['mean_probability_difference']:>10.2e} {result['review_agreement']:>13.4f} "
            f"{result['max_probability_difference']:>10.2e} {result.get('macro_f1_difference', float('nan')):>+8.4f}  "
            f"{'yes' if result['passed'] else 'NO: deleted'}"
        )
    return "\n".join(lines)
