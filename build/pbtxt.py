"""Small classes that render Triton ``config.pbtxt`` text (protobuf text format).

Each class renders one block; :class:`ModelConfig` puts them together. The text is generated,
never hand-edited, and golden tests compare it byte for byte.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field

_INDENT = "  "


def _quote(value: str) -> str:
    """A protobuf text-format string literal."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _int_list(values: Sequence[int]) -> str:
    """``[ 1, 2 ]``"""
    return "[ " + ", ".join(str(value) for value in values) + " ]"


def _indent(text: str, levels: int = 1) -> str:
    """Indent every line of ``text``."""
    return "\n".join(_INDENT * levels + line if line else line for line in text.splitlines())


def _list_block(name: str, items: Sequence[str]) -> str:
    """``name [ {...}, {...} ]`` from rendered item bodies."""
    bodies = ",\n".join(_indent("{\n" + _indent(item) + "\n}") for item in items)
    return f"{name} [\n{bodies}\n]"


@dataclass(frozen=True)
class TensorConfig:
    """One input or output tensor (dims exclude the batch dimension)."""

    name: str
    data_type: str
    dims: tuple[int, ...]

    def render(self) -> str:
        """The tensor's body."""
        return f"name: {_quote(self.name)}\ndata_type: {self.data_type}\ndims: {_int_list(self.dims)}"


@dataclass(frozen=True)
class QueuePolicy:
    """How long a request may wait in a model's queue, and how many may wait (0: no limit).

    A request still queued after ``timeout_microseconds`` is rejected (Triton counts it as
    ``REJECTED``) instead of being run for a client that has given up; a client may ask for a
    shorter timeout per request.
    """

    timeout_microseconds: int = 0
    max_queue_size: int = 0

    def render(self) -> str:
        """The ``default_queue_policy`` block."""
        lines = [
            "timeout_action: REJECT",
            f"default_timeout_microseconds: {self.timeout_microseconds}",
            "allow_timeout_override: true",
            f"max_queue_size: {self.max_queue_size}",
        ]
        return "default_queue_policy {\n" + _indent("\n".join(lines)) + "\n}"


@dataclass(frozen=True)
class DynamicBatching:
    """Dynamic batcher settings."""

    max_queue_delay_microseconds: int = 0
    preferred_batch_sizes: tuple[int, ...] = ()
    queue_policy: QueuePolicy | None = None

    def render(self) -> str:
        """The ``dynamic_batching`` block."""
        lines = []
        if self.preferred_batch_sizes:
            lines.append(f"preferred_batch_size: {_int_list(self.preferred_batch_sizes)}")
        lines.append(f"max_queue_delay_microseconds: {self.max_queue_delay_microseconds}")
        if self.queue_policy:
            lines.append(self.queue_policy.render())
        return "dynamic_batching {\n" + _indent("\n".join(lines)) + "\n}"


@dataclass(frozen=True)
class InstanceGroup:
    """How many instances of a model run, and where (``KIND_CPU`` or ``KIND_GPU``)."""

    kind: str = "KIND_CPU"
    count: int = 1

    def render(self) -> str:
        """The group's body."""
        return f"count: {self.count}\nkind: {self.kind}"


@dataclass(frozen=True)
class VersionPolicy:
    """Which versions Triton serves: ``latest`` (``num_versions``), ``all`` or ``specific``."""

    kind: str = "latest"
    num_versions: int = 1
    versions: tuple[int, ...] = ()

    def render(self) -> str:
        """The ``version_policy`` block."""
        if self.kind == "latest":
            body = f"latest: {{ num_versions: {self.num_versions} }}"
        elif self.kind == "all":
            body = "all: { }"
        else:
            body = f"specific: {{ versions: {_int_list(self.versions)} }}"
        return f"version_policy: {{ {body} }}"


@dataclass(frozen=True)
class EnsembleStep:
    """One step of an ensemble: a model and how its tensors map to ensemble tensors."""

    model_name: str
    input_map: tuple[tuple[str, str], ...]
    output_map: tuple[tuple[str, str], ...]
    model_version: int = -1

    def render(self) -> str:
        """The step's body."""
        lines = [f"model_name: {_quote(self.model_name)}", f"model_version: {self.model_version}"]
        lines += [f"input_map {{ key: {_quote(key)} value: {_quote(value)} }}" for key, value in self.input_map]
        lines += [f"output_map {{ key: {_quote(key)} value: {_quote(value)} }}" for key, value in self.output_map]
        return "\n".join(lines)


@dataclass(frozen=True)
class ModelConfig:
    """A whole ``config.pbtxt``: a Python-backend model, an ONNX model or an ensemble."""

    name: str
    max_batch_size: int
    inputs: tuple[TensorConfig, ...]
    outputs: tuple[TensorConfig, ...]
    backend: str | None = None
    platform: str | None = None
    version_policy: VersionPolicy | None = None
    dynamic_batching: DynamicBatching | None = None
    instance_groups: tuple[InstanceGroup, ...] = ()
    parameters: dict[str, str] = field(default_factory=dict)
    ensemble_steps: tuple[EnsembleStep, ...] = ()

    def __post_init__(self) -> None:
        if (self.backend is None) == (self.platform is None):
            raise ValueError(f"model {self.name}: set exactly one of backend and platform")

    def render(self) -> str:
        """The complete ``config.pbtxt`` text, ending with a newline."""
        blocks = [f"name: {_quote(self.name)}"]
        blocks.append(f"backend: {_quote(self.backend)}" if self.backend else f"platform: {_quote(self.platform)}")
        blocks.append(f"max_batch_size: {self.max_batch_size}")
        if self.version_policy:
            blocks.append(self.version_policy.render())
        blocks.append(_list_block("input", [tensor.render() for tensor in self.inputs]))
        blocks.append(_list_block("output", [tensor.render() for tensor in self.outputs]))
        if self.dynamic_batching:
            blocks.append(self.dynamic_batching.render())
        if self.instance_groups:
            blocks.append(_list_block("instance_group", [group.render() for group in self.instance_groups]))
        for key, value in sorted(self.parameters.items()):
            blocks.append(
                f"parameters {{\n{_INDENT}key: {_quote(key)}\n{_INDENT}value: {{ string_value: {_quote(value)} }}\n}}"
            )
        if self.ensemble_steps:
            steps = _list_block("step", [step.render() for step in self.ensemble_steps])
            blocks.append("ensemble_scheduling {\n" + _indent(steps) + "\n}")
        return "\n".join(blocks) + "\n"
