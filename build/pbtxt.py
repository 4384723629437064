"""Triton model configurations as small frozen objects, rendered through Triton's own schema.

:class:`ModelConfig` and its parts describe one ``config.pbtxt``; :meth:`ModelConfig.render`
builds Triton's ``ModelConfig`` protobuf message (``tritonclient.grpc.model_config_pb2``) from
them and prints it with ``google.protobuf.text_format``. A field or enum value that Triton's
schema does not know fails here, at build time, not when the server loads the model. The text
is generated, never hand-edited, and golden tests compare it byte for byte.
"""

from dataclasses import dataclass, field

from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2 as schema


@dataclass(frozen=True)
class TensorConfig:
    """One input or output tensor (dims exclude the batch dimension)."""

    name: str
    data_type: str
    dims: tuple[int, ...]

    def fill(self, tensor) -> None:
        """Set a ``ModelInput`` or ``ModelOutput`` message."""
        tensor.name = self.name
        tensor.data_type = schema.DataType.Value(self.data_type)
        tensor.dims.extend(self.dims)


@dataclass(frozen=True)
class QueuePolicy:
    """How long a request may wait in a model's queue, and how many may wait (0: no limit).

    A request still queued after ``timeout_microseconds`` is rejected (Triton counts it as
    ``REJECTED``) instead of being run for a client that has given up; a client may ask for a
    shorter timeout per request.
    """

    timeout_microseconds: int = 0
    max_queue_size: int = 0

    def fill(self, policy: schema.ModelQueuePolicy) -> None:
        """Set the ``default_queue_policy`` message."""
        policy.timeout_action = schema.ModelQueuePolicy.REJECT
        policy.default_timeout_microseconds = self.timeout_microseconds
        policy.allow_timeout_override = True
        policy.max_queue_size = self.max_queue_size


@dataclass(frozen=True)
class DynamicBatching:
    """Dynamic batcher settings."""

    max_queue_delay_microseconds: int = 0
    preferred_batch_sizes: tuple[int, ...] = ()
    queue_policy: QueuePolicy | None = None

    def fill(self, batching: schema.ModelDynamicBatching) -> None:
        """Set the ``dynamic_batching`` message."""
        batching.preferred_batch_size.extend(self.preferred_batch_sizes)
        batching.max_queue_delay_microseconds = self.max_queue_delay_microseconds
        if self.queue_policy:
            self.queue_policy.fill(batching.default_queue_policy)


@dataclass(frozen=True)
class InstanceGroup:
    """How many instances of a model run, and where (``KIND_CPU`` or ``KIND_GPU``)."""

    kind: str = "KIND_CPU"
    count: int = 1

    def fill(self, group: schema.ModelInstanceGroup) -> None:
        """Set one ``instance_group`` message."""
        group.count = self.count
        group.kind = schema.ModelInstanceGroup.Kind.Value(self.kind)


@dataclass(frozen=True)
class VersionPolicy:
    """Which versions Triton serves: ``latest`` (``num_versions``), ``all`` or ``specific``."""

    kind: str = "latest"
    num_versions: int = 1
    versions: tuple[int, ...] = ()

    def fill(self, policy: schema.ModelVersionPolicy) -> None:
        """Set the ``version_policy`` message."""
        if self.kind == "latest":
            policy.latest.num_versions = self.num_versions
        elif self.kind == "all":
            policy.all.SetInParent()
        else:
            policy.specific.versions.extend(self.versions)


@dataclass(frozen=True)
class EnsembleStep:
    """One step of an ensemble: a model and how its tensors map to ensemble tensors."""

    model_name: str
    input_map: tuple[tuple[str, str], ...]
    output_map: tuple[tuple[str, str], ...]
    model_version: int = -1

    def fill(self, step: schema.ModelEnsembling.Step) -> None:
        """Set one ``step`` message."""
        step.model_name = self.model_name
        step.model_version = self.model_version
        step.input_map.update(dict(self.input_map))
        step.output_map.update(dict(self.output_map))


@dataclass(frozen=True)
class ExecutionAccelerator:
    """A GPU execution accelerator of the onnxruntime backend (``tensorrt``) and its parameters."""

    name: str
    parameters: tuple[tuple[str, str], ...] = ()

    def fill(self, accelerator) -> None:
        """Set one ``gpu_execution_accelerator`` entry."""
        accelerator.name = self.name
        accelerator.parameters.update(dict(self.parameters))


@dataclass(frozen=True)
class WarmupInput:
    """One input of a warm-up request: zeros, or the contents of a file in the model's ``warmup/`` folder."""

    name: str
    data_type: str
    dims: tuple[int, ...]
    input_data_file: str | None = None

    def fill(self, warmup_input: schema.ModelWarmup.Input) -> None:
        """Set one ``inputs`` entry of a ``model_warmup`` message."""
        warmup_input.data_type = schema.DataType.Value(self.data_type)
        warmup_input.dims.extend(self.dims)
        if self.input_data_file:
            warmup_input.input_data_file = self.input_data_file
        else:
            warmup_input.zero_data = True


@dataclass(frozen=True)
class Warmup:
    """A request Triton runs through a model instance before it reports the model ready."""

    name: str
    inputs: tuple[WarmupInput, ...]
    batch_size: int = 1
    count: int = 1

    def fill(self, warmup: schema.ModelWarmup) -> None:
        """Set one ``model_warmup`` message."""
        warmup.name = self.name
        warmup.batch_size = self.batch_size
        warmup.count = self.count
        for warmup_input in self.inputs:
            warmup_input.fill(warmup.inputs[warmup_input.name])


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
    warmups: tuple[Warmup, ...] = ()
    gpu_accelerators: tuple[ExecutionAccelerator, ...] = ()

    def __post_init__(self) -> None:
        if (self.backend is None) == (self.platform is None):
            raise ValueError(f"model {self.name}: set exactly one of backend and platform")

    def to_proto(self) -> schema.ModelConfig:
        """Triton's ``ModelConfig`` message."""
        config = schema.ModelConfig(name=self.name, max_batch_size=self.max_batch_size)
        if self.backend:
            config.backend = self.backend
        else:
            config.platform = self.platform
        if self.version_policy:
            self.version_policy.fill(config.version_policy)
        for tensor in self.inputs:
            tensor.fill(config.input.add())
        for tensor in self.outputs:
            tensor.fill(config.output.add())
        if self.dynamic_batching:
            self.dynamic_batching.fill(config.dynamic_batching)
        for group in self.instance_groups:
            group.fill(config.instance_group.add())
        for key, value in self.parameters.items():
            config.parameters[key].string_value = value
        for step in self.ensemble_steps:
            step.fill(config.ensemble_scheduling.step.add())
        for warmup in self.warmups:
            warmup.fill(config.model_warmup.add())
        for accelerator in self.gpu_accelerators:
            accelerator.fill(config.optimization.execution_accelerators.gpu_execution_accelerator.add())
        return config

    def render(self) -> str:
        """The complete ``config.pbtxt`` text."""
        return text_format.MessageToString(self.to_proto())
