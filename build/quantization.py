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


# INT8 schemes. ``dynamic``: every MatMul/Attention quantized. ``sensitivity``: the same, but the
# nodes whose quantization alone moves the calibrated probabilities most are kept in FP32, one
# at a time (most sensitive first), until the INT8 model agrees with FP32 on the calibration
# texts at CALIBRATION_AGREEMENT, or MAX_FP32_NODES are kept.
INT8_SCHEMES = ("dynamic", "sensitivity")
# What export uses unless told otherwise, chosen on the IT-tickets benchmark model
# (docs/benchmarks.md, "INT8 schemes").
DEFAULT_INT8_SCHEME = "sensitivity"
CALIBRATION_AGREEMENT = 0.997  # on 1,024 texts: at most 3 top-1 flips
MAX_FP32_NODES = 8


def quantizable_nodes(model_path: "str | Path", preset: QuantizationPreset) -> list[str]:
    """Names of the nodes dynamic quantization would quantize, in graph order."""
    import onnx

    model = onnx.load(str(model_path), load_external_data=False)
    kept = set(detector_nodes(model))
    return [node.name for node in model.graph.node if node.op_type in preset.operators and node.name not in kept]


def quantize_keeping_sensitive_nodes(
    source: Path,
    destination: Path,
    preset: QuantizationPreset,
    probabilities,
    *,
    target: float = CALIBRATION_AGREEMENT,
    max_kept: int = MAX_FP32_NODES,
) -> dict:
    """The ``sensitivity`` scheme. ``probabilities(path)`` gives a model's calibrated probabilities on the
    calibration texts. Writes ``destination``; returns the nodes kept in FP32 and, when the fully
    quantized model fell short of ``target``, the sensitivity ranking they were taken from."""
    import numpy as np

    reference = probabilities(source)

    def agreement() -> float:
        return float((probabilities(destination).argmax(1) == reference.argmax(1)).mean())

    quantize_int8(source, destination, preset)
    reached = agreement()
    ranking: list[tuple[str, float]] = []
    if reached < target:
        scratch = destination.with_suffix(".probe.onnx")
        try:
            log.info("INT8 agreement %.4f on the calibration texts, below %.4f: ranking the nodes", reached, target)
            for node in tqdm(quantizable_nodes(source, preset), desc="INT8 sensitivity ranking", unit="node"):
                quantize_int8(source, scratch, preset, include=[node])
                ranking.append((node, float(np.abs(probabilities(scratch) - reference).mean())))
        finally:
            scratch.unlink(missing_ok=True)
        ranking.sort(key=lambda entry: -entry[1])
    kept: list[str] = []
    while reached < target and len(kept) < min(max_kept, len(ranking)):
        kept.append(ranking[len(kept)][0])
        quantize_int8(source, destination, preset, exclude=kept)
        reached = agreement()
        log.info("INT8 with %d node(s) kept in FP32: agreement %.4f", len(kept), reached)
    return {
        "scheme": "sensitivity",
        "kept_fp32": kept,
        "calibration_agreement": reached,
        "ranking": [{"node": node, "mean_probability_difference": score} for node, score in ranking],
    }
