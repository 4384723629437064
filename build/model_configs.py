"""The Triton models of the repository and their generated configurations.

``ticket_classifier`` is an ensemble of three steps::

    SUBJECT, DESCRIPTION --tokenizer--> input_ids, attention_mask[, token_type_ids]
                         --onnx-------> logits, probabilities (temperature-calibrated)
                         --postprocess> CATEGORY, CONFIDENCE, TOP_LABELS, TOP_SCORES,
                                        RANKED_LABELS, RANKED_SCORES, REQUIRES_REVIEW,
                                        REVIEW_REASONS, MODEL_VERSION

or, fused (``fuse_steps``; the default for the Python-backend classifier on the CPU), of one step
that does the three in one Python process::

    SUBJECT, DESCRIPTION --pipeline---> CATEGORY, ... , MODEL_VERSION
"""

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

from ticket_classifier.build.layout import read_state
from ticket_classifier.build.pbtxt import (
    DynamicBatching,
    EnsembleStep,
    ExecutionAccelerator,
    InstanceGroup,
    ModelConfig,
    QueuePolicy,
    TensorConfig,
    VersionPolicy,
    Warmup,
    WarmupInput,
)
from ticket_classifier.build.precisions import PRECISIONS
from ticket_classifier.errors import TicketClassifierError
from ticket_classifier.runtime.contract import (
    BATCHED_CALLS,
    CATEGORY,
    CLASSIFIER,
    CLASSIFIER_OUTPUTS,
    CONFIDENCE,
    ENSEMBLE,
    FUSED_STEPS,
    INTRA_OP_THREADS_PARAMETER,
    LENGTH_BUCKETS_PARAMETER,
    MAX_FIELD_BYTES_PARAMETER,
    MAX_REQUEST_BYTES_PARAMETER,
    MODEL_VERSION,
    NOVELTY,
    NOVELTY_SCORE,
    ONNX_CALLS_PARAMETER,
    PER_TICKET_CALLS,
    PIPELINE,
    POSTPROCESS,
    POSTPROCESS_INPUT,
    POSTPROCESS_NOVELTY_INPUT,
    PROBABILITIES,
    RANKED_LABELS,
    RANKED_SCORES,
    REQUIRES_REVIEW,
    REVIEW_REASONS,
    TEXT_INPUTS,
    THREAD_SPINNING_PARAMETER,
    THREE_STEPS,
    TOKENIZER,
    TOP_LABELS,
    TOP_SCORES,
    WARMUP_PARAMETER,
)
from ticket_classifier.samples import SAMPLE_TICKETS

DEVICES = ("cpu", "gpu")
CLASSIFIER_BACKENDS = ("python", "onnxruntime")
# ``precision: auto`` serves the first of these whose export passed its parity gate: INT8 is the
# fastest on CPU (docs/benchmarks.md), FP16 on a GPU; FP32 passes always.
AUTO_PRECISIONS = {"cpu": ("int8", "fp32"), "gpu": ("fp16", "fp32")}
# Triton runs warm-up requests through each instance before the model counts as ready, so the
# first real request after a (re)load does not pay for onnxruntime's and the tokenizer's first
# call. The tokenizer's sample ticket is read from files in the model's ``warmup`` folder
# (Triton's fixed name); the classifier gets zeros of this many tokens.
WARMUP_FOLDER = "warmup"
WARMUP_TOKENS = 32
# GPU classifier (NGC container, native onnxruntime backend): plain CUDA, or the TensorRT
# execution accelerator, which builds an FP16 engine from the FP32 graph when it first sees an
# input shape (tens of seconds; the warm-up requests build those of batch 1 at each bucket
# length before the model is ready; other batch sizes and the model's maximum length are built
# at first use) and keeps the engines in ``tensorrt_cache_dir``, as the server sees it. That
# folder lies outside the repository: the repository is mounted read-only, and a file written
# into a model's folder makes Triton reload the model. Mount a volume there to keep engines
# across restarts.
GPU_ACCELERATORS = ("cuda", "tensorrt")
# A fused pipeline served by one instance left 1-5 % of requests waiting 0.5 s between two
# executions (measured): the client's next request reaches Triton 2.51's dynamic batcher before
# the instance's slot is released, and the batcher's wait for that slot can miss the release
# and sleep its 500 ms timeout (docs/benchmarks.md, "One instance stalls"). Two instances at least.
FUSED_MIN_INSTANCES = 2
# The three-step ensemble as tune measured it best on the 2-core machine (the default before the fused
# step): one classifier instance with its share of the cores (docs/benchmarks.md, "Tuning").
THREE_STEP_LAYOUT = dict(fuse_steps=False, classifier_instances=1, onnx_intra_op_threads=0)
# The fused step runs onnxruntime once per ticket at the ticket's own length: on the 2-core machine a
# text cost 14.5-14.8 ms of CPU alone at its own length, 16.2-16.8 padded to its bucket and 16.0-17.8
# in batches of 5, and two threads per call cost 20-26 ms (one thread, spinning off; docs/benchmarks.md,
# "per-ticket calls"). ``batched`` is the former one call per padded length.
ONNX_CALLS = (PER_TICKET_CALLS, BATCHED_CALLS)
DEFAULT_LENGTH_BUCKETS = (32, 64)  # chosen by `tune` on the 2-core machine (docs/benchmarks.md)


@dataclass
class RepositoryOptions:
    """How the repository is generated; the ``repository`` section of ``configs/production.yaml``."""

    device: str = "cpu"
    classifier_backend: str = "python"
    fuse_steps: bool | Literal["auto"] = "auto"
    max_batch_size: int = 64
    max_queue_delay_microseconds: int = 0
    preferred_batch_sizes: list[int] = field(default_factory=list)
    classifier_instances: int = 3  # one more than the 2-core pod's cores: measured best (docs/benchmarks.md)
    tokenizer_instances: int = 1
    top_k: int = 3
    onnx_intra_op_threads: int = -1
    onnx_thread_spinning: bool = False
    fused_onnx_calls: str = PER_TICKET_CALLS
    model_warmup: bool = True
    gpu_accelerator: str = "cuda"
    tensorrt_cache_dir: str = "/tmp/ticket_classifier_tensorrt_cache"
    version_policy_latest: int = 2
    precision: str = "auto"
    length_buckets: list[int] = field(default_factory=lambda: list(DEFAULT_LENGTH_BUCKETS))
    length_bucketing: bool | None = None  # replaced by length_buckets; named in a clear error
    max_field_bytes: int = 64 * 1024
    max_request_bytes: int = 1024 * 1024
    queue_timeout_ms: int = 30000
    max_queue_size: int = 1024
    min_macro_f1: float = 0.0
    novelty_flag_rate: float = 0.05  # share of known-category tickets the unknown_category rule flags

    def __post_init__(self) -> None:
        if not 0.0 < self.novelty_flag_rate < 0.5:
            raise ValueError(f"repository.novelty_flag_rate must lie in (0, 0.5), got {self.novelty_flag_rate}")
        if self.device not in DEVICES:
            raise ValueError(f"repository.device must be one of {', '.join(DEVICES)}, got {self.device!r}")
        if self.classifier_backend not in CLASSIFIER_BACKENDS:
            raise ValueError(
                f"repository.classifier_backend must be one of {', '.join(CLASSIFIER_BACKENDS)}, "
                f"got {self.classifier_backend!r}"
            )
        if self.max_batch_size < 1:
            raise ValueError(f"repository.max_batch_size must be at least 1, got {self.max_batch_size}")
        if any(size < 1 or size > self.max_batch_size for size in self.preferred_batch_sizes):
            raise ValueError("repository.preferred_batch_sizes must lie between 1 and max_batch_size")
        if self.max_queue_delay_microseconds < 0:
            raise ValueError("repository.max_queue_delay_microseconds must not be negative")
        if min(self.classifier_instances, self.tokenizer_instances, self.top_k, self.version_policy_latest) < 1:
            raise ValueError("repository instance counts, top_k and version_policy_latest must be at least 1")
        if self.precision not in ("auto", *PRECISIONS):
            raise ValueError(
                f"repository.precision must be auto or one of {', '.join(PRECISIONS)}, got {self.precision!r}"
            )
        if not 1 <= self.max_field_bytes <= self.max_request_bytes:
            raise ValueError("repository needs 1 <= max_field_bytes <= max_request_bytes")
        if not 0.0 <= self.min_macro_f1 <= 1.0:
            raise ValueError("repository.min_macro_f1 must lie in [0, 1]")
        if self.length_bucketing is not None:
            raise ValueError(
                "repository.length_bucketing was replaced by repository.length_buckets: a list of padded "
                "lengths (for example [32, 64]), or [] to pad each request to its longest ticket"
            )
        if any(length < 1 for length in self.length_buckets) or self.length_buckets != sorted(set(self.length_buckets)):
            raise ValueError(f"repository.length_buckets must be ascending positive lengths, got {self.length_buckets}")
        if self.gpu_accelerator not in GPU_ACCELERATORS:
            raise ValueError(
                f"repository.gpu_accelerator must be one of {', '.join(GPU_ACCELERATORS)}, got {self.gpu_accelerator!r}"
            )
        if self.gpu_accelerator == "tensorrt" and (
            self.device != "gpu" or self.classifier_backend != "onnxruntime" or self.precision != "fp32"
        ):
            raise ValueError(
                "repository.gpu_accelerator tensorrt needs device gpu, classifier_backend onnxruntime (the NGC "
                "container) and precision fp32 (TensorRT makes its own FP16 engine from the FP32 graph)"
            )
        if self.fuse_steps not in (True, False, "auto"):
            raise ValueError(f"repository.fuse_steps must be true, false or auto, got {self.fuse_steps!r}")
        if self.fuse_steps is True and (self.classifier_backend != "python" or self.device != "cpu"):
            raise ValueError(
                "repository.fuse_steps runs onnxruntime on the CPU inside the Python backend: it needs device cpu "
                "and classifier_backend python"
            )
        if self.fuse_steps is True and self.classifier_instances < FUSED_MIN_INSTANCES:
            raise ValueError(
                f"repository.fuse_steps needs classifier_instances >= {FUSED_MIN_INSTANCES}: with one instance some "
                "requests wait 0.5 s in Triton 2.51's dynamic batcher (docs/benchmarks.md)"
            )
        if self.onnx_intra_op_threads < -1:
            raise ValueError(
                "repository.onnx_intra_op_threads must be a thread count, 0 (each instance its share of the cores) "
                f"or -1 (every core for each instance), got {self.onnx_intra_op_threads}"
            )
        if self.fused_onnx_calls not in ONNX_CALLS:
            raise ValueError(
                f"repository.fused_onnx_calls must be one of {', '.join(ONNX_CALLS)}, got {self.fused_onnx_calls!r}"
            )
        if self.queue_timeout_ms < 1 or self.max_queue_size < 1:
            raise ValueError("repository.queue_timeout_ms and repository.max_queue_size must be at least 1")

    @property
    def fused(self) -> bool:
        """Whether the ensemble is the one fused step: ``fuse_steps`` true, or ``auto`` where it applies
        (the Python-backend classifier on the CPU with at least ``FUSED_MIN_INSTANCES`` instances)."""
        if self.fuse_steps == "auto":
            return (
                self.device == "cpu"
                and self.classifier_backend == "python"
                and self.classifier_instances >= FUSED_MIN_INSTANCES
            )
        return self.fuse_steps

    @property
    def steps(self) -> tuple[str, ...]:
        """The step models of the ensemble: the fused pipeline, or tokenizer, classifier and postprocess."""
        return FUSED_STEPS if self.fused else THREE_STEPS

    @property
    def classifier_step(self) -> str:
        """The step model that runs the ONNX classifier (whose batches the dynamic batcher forms)."""
        return PIPELINE if self.fused else CLASSIFIER

    @property
    def instance_kind(self) -> str:
        """``KIND_GPU`` or ``KIND_CPU``."""
        return "KIND_GPU" if self.device == "gpu" else "KIND_CPU"

    def batching(self) -> DynamicBatching:
        """The dynamic batcher used by every batching step."""
        return DynamicBatching(
            self.max_queue_delay_microseconds,
            tuple(self.preferred_batch_sizes),
            QueuePolicy(self.queue_timeout_ms * 1000, self.max_queue_size),
        )

    def size_limits(self) -> dict[str, str]:
        """The byte limits as model parameters: the tokenizer enforces them, clients read them from the ensemble."""
        return {
            MAX_FIELD_BYTES_PARAMETER: str(self.max_field_bytes),
            MAX_REQUEST_BYTES_PARAMETER: str(self.max_request_bytes),
        }

    def text_parameters(self) -> dict[str, str]:
        """The parameters of a step that reads the texts: its length buckets and byte limits."""
        return {
            LENGTH_BUCKETS_PARAMETER: ",".join(str(length) for length in self.length_buckets),
            **self.size_limits(),
        }

    def onnx_parameters(self) -> dict[str, str]:
        """The parameters of a step that runs onnxruntime in Python: its threads (``runtime/onnx_threads.py``)."""
        return {
            INTRA_OP_THREADS_PARAMETER: str(self.onnx_intra_op_threads),
            THREAD_SPINNING_PARAMETER: "1" if self.onnx_thread_spinning else "0",
        }

    def keep_loaded(self, served: Sequence[int], active: int, candidate: int) -> list[int]:
        """The versions to load when ``candidate`` joins: it, the ``active`` one, and the newest others
        of ``served``, ``version_policy_latest`` in all (at least the two)."""
        kept = {active, candidate}
        for version in sorted(served, reverse=True):
            if len(kept) >= self.version_policy_latest:
                break
            kept.add(version)
        return sorted(kept)


@dataclass(frozen=True)
class VersionBuild:
    """What one version's configurations are generated from: its build options and the model's shapes.

    Recorded in ``repository_state.json`` when the version is built, so that a rollout regenerates
    the configurations from the record, not from the files of the version.
    """

    options: RepositoryOptions
    input_names: tuple[str, ...]
    num_labels: int

    def to_record(self) -> dict:
        """The JSON record."""
        return {"options": asdict(self.options), "input_names": list(self.input_names), "num_labels": self.num_labels}

    @classmethod
    def from_record(cls, record: dict) -> "VersionBuild":
        """The build of a JSON record."""
        return cls(RepositoryOptions(**record["options"]), tuple(record["input_names"]), int(record["num_labels"]))


def active_build(repository: "str | Path") -> VersionBuild:
    """The build of the version a built repository serves."""
    state = read_state(Path(repository))
    if state is None:
        raise TicketClassifierError(f"{repository} is not a built model repository")
    return VersionBuild.from_record(state.build(state.active))


def warmup_ticket_files() -> dict[str, bytes]:
    """The tokenizer's warm-up inputs: the first sample ticket, one file per text input, each in
    Triton's serialized string form (a 4-byte little-endian length, then the UTF-8 bytes)."""
    files = {}
    for name, text in zip(TEXT_INPUTS, SAMPLE_TICKETS[0]):
        data = text.encode("utf-8")
        files[name.lower()] = len(data).to_bytes(4, "little") + data
    return files


def tokenizer_warmups(options: RepositoryOptions) -> tuple[Warmup, ...]:
    """One sample ticket through the tokenizer (none when ``model_warmup`` is off)."""
    if not options.model_warmup:
        return ()
    inputs = tuple(WarmupInput(name, "TYPE_STRING", (1,), input_data_file=name.lower()) for name in TEXT_INPUTS)
    return (Warmup("sample_ticket", inputs),)


def classifier_warmups(options: RepositoryOptions, input_names: Sequence[str]) -> tuple[Warmup, ...]:
    """One all-zero request of batch 1 through the classifier per length bucket (or of ``WARMUP_TOKENS``),
    none when ``model_warmup`` is off: with TensorRT each is an engine built before the model is ready."""
    if not options.model_warmup:
        return ()
    return tuple(
        Warmup(f"zeros_{length}", tuple(WarmupInput(name, "TYPE_INT64", (length,)) for name in input_names))
        for length in options.length_buckets or [WARMUP_TOKENS]
    )


def gpu_accelerators(options: RepositoryOptions) -> tuple[ExecutionAccelerator, ...]:
    """The TensorRT accelerator with an FP16 engine and its cache, when chosen."""
    if options.gpu_accelerator != "tensorrt":
        return ()
    parameters = (
        ("precision_mode", "FP16"),
        ("max_workspace_size_bytes", str(2**30)),
        ("trt_engine_cache_enable", "1"),
        ("trt_engine_cache_path", options.tensorrt_cache_dir),
    )
    return (ExecutionAccelerator("tensorrt", parameters),)


def served_versions(versions: Sequence[int]) -> VersionPolicy:
    """Load exactly these versions: a version on disk is served only once a rollout has checked it."""
    return VersionPolicy("specific", versions=tuple(sorted(versions)))


def step_config(name: str, options: RepositoryOptions, versions: Sequence[int], **fields) -> ModelConfig:
    """A step model of the ensemble (Python backend unless ``fields`` say otherwise): the configured
    batch size and dynamic batcher, loading exactly ``versions``."""
    fields.setdefault("backend", "python")
    return ModelConfig(
        name=name,
        max_batch_size=options.max_batch_size,
        version_policy=served_versions(versions),
        dynamic_batching=options.batching(),
        **fields,
    )


def text_inputs() -> tuple[TensorConfig, ...]:
    """The ticket's fields, one string each: the inputs of the ensemble and of its first step."""
    return tuple(TensorConfig(name, "TYPE_STRING", (1,)) for name in TEXT_INPUTS)


def tokenizer_config(options: RepositoryOptions, input_names: Sequence[str], versions: Sequence[int]) -> ModelConfig:
    """Python-backend tokenizer: two strings in, padded int64 token arrays out (always on CPU).

    With ``length_buckets`` each request is padded to the smallest bucket (or the model's maximum
    length) that holds it, so that the classifier's batcher can merge requests; with none, to its
    own longest text. Fields and requests over the byte limits are refused before decoding.
    """
    return step_config(
        TOKENIZER,
        options,
        versions,
        inputs=text_inputs(),
        outputs=tuple(TensorConfig(name, "TYPE_INT64", (-1,)) for name in input_names),
        instance_groups=(InstanceGroup("KIND_CPU", options.tokenizer_instances),),
        parameters=options.text_parameters(),
        warmups=tokenizer_warmups(options),
    )


def classifier_config(
    options: RepositoryOptions, input_names: Sequence[str], num_labels: int, versions: Sequence[int]
) -> ModelConfig:
    """The ONNX classifier: native onnxruntime platform, or a Python-backend model running onnxruntime."""
    native = options.classifier_backend == "onnxruntime"
    return step_config(
        CLASSIFIER,
        options,
        versions,
        backend=None if native else "python",
        platform="onnxruntime_onnx" if native else None,
        inputs=tuple(TensorConfig(name, "TYPE_INT64", (-1,)) for name in input_names),
        outputs=tuple(
            TensorConfig(name, "TYPE_FP32", (1,) if name == NOVELTY_SCORE else (num_labels,))
            for name in CLASSIFIER_OUTPUTS
        ),
        instance_groups=(InstanceGroup(options.instance_kind, options.classifier_instances),),
        parameters={} if native else options.onnx_parameters(),
        warmups=classifier_warmups(options, input_names),
        gpu_accelerators=gpu_accelerators(options),
    )


def postprocess_outputs(num_labels: int, top_k: int) -> tuple[TensorConfig, ...]:
    """What the postprocessing step (and so the ensemble) returns."""
    k = min(top_k, num_labels)
    return (
        TensorConfig(CATEGORY, "TYPE_STRING", (1,)),
        TensorConfig(CONFIDENCE, "TYPE_FP32", (1,)),
        TensorConfig(TOP_LABELS, "TYPE_STRING", (k,)),
        TensorConfig(TOP_SCORES, "TYPE_FP32", (k,)),
        TensorConfig(RANKED_LABELS, "TYPE_STRING", (num_labels,)),
        TensorConfig(RANKED_SCORES, "TYPE_FP32", (num_labels,)),
        TensorConfig(REQUIRES_REVIEW, "TYPE_BOOL", (1,)),
        TensorConfig(REVIEW_REASONS, "TYPE_STRING", (1,)),
        TensorConfig(MODEL_VERSION, "TYPE_STRING", (1,)),
        TensorConfig(NOVELTY, "TYPE_FP32", (1,)),
    )


def postprocess_config(options: RepositoryOptions, num_labels: int, versions: Sequence[int]) -> ModelConfig:
    """Python-backend step: probabilities -> labels, top-k, the review flag and the model version."""
    return step_config(
        POSTPROCESS,
        options,
        versions,
        inputs=(
            TensorConfig(POSTPROCESS_INPUT, "TYPE_FP32", (num_labels,)),
            TensorConfig(POSTPROCESS_NOVELTY_INPUT, "TYPE_FP32", (1,)),
        ),
        outputs=postprocess_outputs(num_labels, options.top_k),
        instance_groups=(InstanceGroup("KIND_CPU", 1),),
    )


def ensemble_config(
    options: RepositoryOptions, input_names: Sequence[str], num_labels: int, version: int
) -> ModelConfig:
    """The public model: the steps chained, all pinned to one model ``version``.

    Pinning keeps a request on one version from tokenizer to labels while two versions are
    loaded side by side during a rollout.
    """
    outputs = postprocess_outputs(num_labels, options.top_k)
    if options.fused:
        steps = (
            EnsembleStep(
                PIPELINE,
                input_map=tuple((name, name) for name in TEXT_INPUTS),
                output_map=tuple((tensor.name, tensor.name) for tensor in outputs),
                model_version=version,
            ),
        )
    else:
        steps = (
            EnsembleStep(
                TOKENIZER,
                input_map=tuple((name, name) for name in TEXT_INPUTS),
                output_map=tuple((name, name) for name in input_names),
                model_version=version,
            ),
            EnsembleStep(
                CLASSIFIER,
                input_map=tuple((name, name) for name in input_names),
                output_map=((PROBABILITIES, PROBABILITIES), (NOVELTY_SCORE, NOVELTY_SCORE)),
                model_version=version,
            ),
            EnsembleStep(
                POSTPROCESS,
                input_map=((POSTPROCESS_INPUT, PROBABILITIES), (POSTPROCESS_NOVELTY_INPUT, NOVELTY_SCORE)),
                output_map=tuple((tensor.name, tensor.name) for tensor in outputs),
                model_version=version,
            ),
        )
    return ModelConfig(
        name=ENSEMBLE,
        platform="ensemble",
        max_batch_size=options.max_batch_size,
        inputs=text_inputs(),
        outputs=outputs,
        parameters=options.size_limits(),
        ensemble_steps=steps,
    )


def pipeline_config(options: RepositoryOptions, num_labels: int, versions: Sequence[int]) -> ModelConfig:
    """The fused step (``RepositoryOptions.fused``): two strings in, the ensemble's outputs out, in one Python model
    that tokenizes, runs onnxruntime and ranks; its instances are ``classifier_instances``."""
    return step_config(
        PIPELINE,
        options,
        versions,
        inputs=text_inputs(),
        outputs=postprocess_outputs(num_labels, options.top_k),
        instance_groups=(InstanceGroup("KIND_CPU", options.classifier_instances),),
        parameters={
            **options.text_parameters(),
            **options.onnx_parameters(),
            WARMUP_PARAMETER: "1" if options.model_warmup else "0",
            ONNX_CALLS_PARAMETER: options.fused_onnx_calls,
        },
    )


def member_configs(
    options: RepositoryOptions, input_names: Sequence[str], num_labels: int, versions: Sequence[int]
) -> list[ModelConfig]:
    """The step models' configurations, loading ``versions``."""
    if options.fused:
        return [pipeline_config(options, num_labels, versions)]
    return [
        tokenizer_config(options, input_names, versions),
        classifier_config(options, input_names, num_labels, versions),
        postprocess_config(options, num_labels, versions),
    ]
