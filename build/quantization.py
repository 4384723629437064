"""INT8 dynamic quantization of the ONNX classifier, with per-CPU presets (as in optimum), and a
sensitivity pass that keeps the nodes INT8 hurts most in FP32.

Dynamic quantization stores MatMul weights as 8-bit integers (per channel) and quantizes
activations to uint8 on the fly. Which weight type is fastest *and* accurate depends on the
CPU's integer dot-product instructions:

* ``avx512_vnni`` (Intel Cascade Lake and newer, AMD Zen 4): VPDPBUSD computes u8 x s8
  products in one instruction without intermediate saturation, so weights are signed
  (``QInt8``), full 8-bit range.
* ``avx512`` (AVX-512 without VNNI): the u8 x s8 path goes through VPMADDUBSW, whose 16-bit
  intermediate sums can saturate; signed weights with ``reduce_range`` (7-bit) avoid it.
* ``avx2`` (most other x86-64, including this project's CI machines): the same VPMADDUBSW
  saturation applies to u8 x s8, so weights are unsigned (``QUInt8``, u8 x u8 kernels),
  which onnxruntime computes without that saturation, full range.
* ``arm64``: u8 x s8 is at least as fast as u8 x u8 on ARM, no saturation issue: ``QInt8``.

:func:`preset_for_this_cpu` picks the preset from ``/proc/cpuinfo`` flags (or the machine).
"""

import logging
import platform
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from ticket_classifier.build.graph_optimization import detector_nodes
from ticket_classifier.build.parity import GATES, Gate, judge
from ticket_classifier.errors import TicketClassifierError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class QuantizationPreset:
    """Settings of ``onnxruntime.quantization.quantize_dynamic`` for one CPU family."""

    name: str
    weight_type: str
    per_channel: bool = True
    reduce_range: bool = False
    operators: tuple[str, ...] = ("MatMul", "Attention")


PRESETS = {
    "avx512_vnni": QuantizationPreset("avx512_vnni", weight_type="QInt8"),
    "avx512": QuantizationPreset("avx512", weight_type="QInt8", reduce_range=True),
    "avx2": QuantizationPreset("avx2", weight_type="QUInt8"),
    "arm64": QuantizationPreset("arm64", weight_type="QInt8"),
}


def preset_for_this_cpu(cpuinfo: str | None = None, machine: str | None = None) -> QuantizationPreset:
    """The preset that suits the CPU this runs on (the serving CPU should match the build CPU)."""
    machine = (machine or platform.machine()).lower()
    if machine in ("aarch64", "arm64"):
        return PRESETS["arm64"]
    if cpuinfo is None:
        cpuinfo_path = Path("/proc/cpuinfo")
        cpuinfo = cpuinfo_path.read_text() if cpuinfo_path.exists() else ""
    flags = set(cpuinfo.split())
    if "avx512_vnni" in flags or "avx512vnni" in flags:
        return PRESETS["avx512_vnni"]
    if "avx512f" in flags:
        return PRESETS["avx512"]
    return PRESETS["avx2"]


def quantize_int8(
    source: "str | Path", destination: "str | Path", preset: QuantizationPreset, *, include=None, exclude=None
) -> Path:
    """Write the dynamically quantized model of ``source`` to ``destination``: every quantizable node, only
    the ``include`` nodes, or all but the ``exclude`` nodes; never the novelty detector's nodes."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    if preset.weight_type not in ("QInt8", "QUInt8"):
        raise TicketClassifierError(f"unknown weight type {preset.weight_type!r} in preset {preset.name}")
    if not include:  # ``include`` names the nodes to quantize, never the detector's: no need to read the graph
        exclude = [*(exclude or ()), *detector_nodes(onnx.load(str(source), load_external_data=False))]
    quantize_dynamic(
        str(source),
        str(destination),
        weight_type=getattr(QuantType, preset.weight_type),
        per_channel=preset.per_channel,
        reduce_range=preset.reduce_range,
        op_types_to_quantize=list(preset.operators),
        nodes_to_quantize=list(include) if include else None,
        nodes_to_exclude=list(exclude) if exclude else None,
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )
    return Path(destination)


# INT8 schemes (INT8_SCHEMES, in precisions.py). ``dynamic``: every MatMul/Attention quantized.
# ``sensitivity``: the same, but the nodes whose quantization alone moves the calibrated
# probabilities and novelty scores most are kept in FP32, one at a time (most sensitive first),
# until the INT8 model passes CALIBRATION_GATE on the calibration texts (the parity gates'
# measures, stricter than the INT8 gate, for room on the parity texts), or MAX_FP32_NODES are kept.
# On 300 demo texts the fully quantized model flipped 9 review decisions (97.0 %), and 8 of 299
# on the parity texts, below the INT8 gate's 98 % (2026-11-28): near-ties of the confidence and
# novelty thresholds. 99.7 % top-1 is at most 3 flips of 1,024 texts.
CALIBRATION_GATE = Gate(
    top1_agreement=0.997, mean_probability_difference=GATES["int8"].mean_probability_difference, review_agreement=0.99
)
MAX_FP32_NODES = 8


def quantizable_nodes(model_path: "str | Path", preset: QuantizationPreset) -> list[str]:
    """Names of the nodes dynamic quantization would quantize, in graph order."""
    import onnx

    model = onnx.load(str(model_path), load_external_data=False)
    kept = set(detector_nodes(model))
    return [node.name for node in model.graph.node if node.op_type in preset.operators and node.name not in kept]


def quantize_keeping_sensitive_nodes(
    source: Path, destination: Path, preset: QuantizationPreset, check, *, max_kept: int = MAX_FP32_NODES
) -> dict:
    """The ``sensitivity`` scheme. ``check`` (a :class:`~ticket_classifier.build.parity.CalibrationCheck`)
    measures a model file on the calibration texts against the FP32 ``source``. Writes ``destination``;
    returns the nodes kept in FP32, what the INT8 model measured, and, when the fully quantized model
    missed ``check``'s gate, the sensitivity ranking the nodes were taken from."""
    reference = check.outputs(source)

    def shortfalls() -> tuple[dict, list[str]]:
        measured = check.measure(check.outputs(destination), reference)
        return measured, judge(measured, check.gate)

    quantize_int8(source, destination, preset)
    measured, missed = shortfalls()
    ranking: list[tuple[str, float]] = []
    if missed:
        scratch = destination.with_suffix(".probe.onnx")
        try:
            log.info("INT8 on the calibration texts: %s; ranking the nodes", "; ".join(missed))
            for node in tqdm(quantizable_nodes(source, preset), desc="INT8 sensitivity ranking", unit="node"):
                quantize_int8(source, scratch, preset, include=[node])
                ranking.append((node, check.distance(check.outputs(scratch), reference)))
        finally:
            scratch.unlink(missing_ok=True)
        ranking.sort(key=lambda entry: -entry[1])
    kept: list[str] = []
    while missed and len(kept) < min(max_kept, len(ranking)):
        kept.append(ranking[len(kept)][0])
        quantize_int8(source, destination, preset, exclude=kept)
        measured, missed = shortfalls()
        log.info("INT8 with %d node(s) kept in FP32: %s", len(kept), "; ".join(missed) or "passes")
    return {
        "scheme": "sensitivity",
        "kept_fp32": kept,
        "calibration": measured,
        "calibration_shortfalls": missed,
        "ranking": [{"node": node, "distance": score} for node, score in ranking],
    }
