"""INT8 dynamic quantization of the ONNX classifier, with per-CPU presets (as in optimum).

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

import platform
from dataclasses import dataclass
from pathlib import Path

from ticket_classifier.errors import TicketClassifierError


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


def quantize_int8(source: "str | Path", destination: "str | Path", preset: QuantizationPreset) -> Path:
    """Write the dynamically quantized model of ``source`` to ``destination``."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    if preset.weight_type not in ("QInt8", "QUInt8"):
        raise TicketClassifierError(f"unknown weight type {preset.weight_type!r} in preset {preset.name}")
    quantize_dynamic(
        str(source),
        str(destination),
        weight_type=getattr(QuantType, preset.weight_type),
        per_channel=preset.per_channel,
        reduce_range=preset.reduce_range,
        op_types_to_quantize=list(preset.operators),
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )
    return Path(destination)
