"""Golden tests: the generated config.pbtxt text, byte for byte (transformer-deploy style).

The test only compares. After a deliberate change, regenerate them with
``make update-golden`` (``python tests/build/test_model_configs.py --update``) and review the diff.
"""

import sys
from pathlib import Path

import pytest
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2

from ticket_classifier.build.model_configs import (
    FUSED_STEPS,
    THREE_STEP_LAYOUT,
    THREE_STEPS,
    RepositoryOptions,
    ensemble_config,
    member_configs,
)
from ticket_classifier.build.pbtxt import ModelConfig, TensorConfig
from ticket_classifier.runtime.contract import ENSEMBLE, ENSEMBLE_OUTPUTS

GOLDEN = Path(__file__).parent / "golden"
BERT_INPUTS = ["input_ids", "attention_mask", "token_type_ids"]
DISTILBERT_INPUTS = ["input_ids", "attention_mask"]

VARIANTS = {
    # The defaults: on the CPU the fused step, two instances with every core's threads each.
    "cpu_default_fused_distilbert": (RepositoryOptions(), DISTILBERT_INPUTS),
    "cpu_python_bert": (RepositoryOptions(**THREE_STEP_LAYOUT), BERT_INPUTS),
    "gpu_onnxruntime_distilbert": (
        RepositoryOptions(
            device="gpu",
            classifier_backend="onnxruntime",
            max_batch_size=128,
            max_queue_delay_microseconds=500,
            preferred_batch_sizes=[16, 32],
            classifier_instances=2,
            version_policy_latest=3,
            precision="fp16",
        ),
        DISTILBERT_INPUTS,
    ),
    # GPU measurements: none yet (docs/benchmarks.md); batch sizes and instances are untuned.
    "gpu_tensorrt_bert": (
        RepositoryOptions(
            device="gpu",
            classifier_backend="onnxruntime",
            gpu_accelerator="tensorrt",
            precision="fp32",
            preferred_batch_sizes=[8, 32],
        ),
        BERT_INPUTS,
    ),
    "cpu_python_no_warmup_no_buckets": (
        RepositoryOptions(**THREE_STEP_LAYOUT, model_warmup=False, length_buckets=[]),
        BERT_INPUTS,
    ),
}


def rendered(variant: str) -> dict[Path, str]:
    """Every generated config.pbtxt of ``variant``, by its golden file."""
    options, input_names = VARIANTS[variant]
    served = options.keep_loaded([1, 2], active=2, candidate=3)
    configs = member_configs(options, input_names, 8, served) + [ensemble_config(options, input_names, 8, version=3)]
    return {GOLDEN / variant / f"{config.name}.pbtxt": config.render() for config in configs}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_generated_configs_match_golden_text(variant):
    for golden, text in rendered(variant).items():
        assert text == golden.read_text(), f"{golden} differs from the generated text (make update-golden)"


def test_backend_and_platform_are_exclusive():
    with pytest.raises(ValueError, match="exactly one of backend and platform"):
        ModelConfig(name="x", max_batch_size=1, inputs=(), outputs=(), backend="python", platform="ensemble")


def test_a_name_triton_s_schema_does_not_know_fails_at_build_time():
    with pytest.raises(ValueError, match="TYPE_FLOAT32"):
        ModelConfig(
            name="x", max_batch_size=1, inputs=(TensorConfig("x", "TYPE_FLOAT32", (1,)),), outputs=(), backend="python"
        ).render()


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_the_golden_text_parses_back_into_the_same_triton_config(variant):
    options, input_names = VARIANTS[variant]
    config = ensemble_config(options, input_names, 8, version=3)
    parsed = text_format.Parse(config.render(), model_config_pb2.ModelConfig())
    assert parsed == config.to_proto() and parsed.name == ENSEMBLE and len(parsed.output) == len(ENSEMBLE_OUTPUTS)
    strings = ModelConfig(name='a"b\\c', max_batch_size=1, inputs=(), outputs=(), backend="python")
    assert text_format.Parse(strings.render(), model_config_pb2.ModelConfig()).name == 'a"b\\c'


@pytest.mark.parametrize(
    "options, message",
    [
        (dict(device="tpu"), "repository.device"),
        (dict(classifier_backend="tensorrt"), "repository.classifier_backend"),
        (dict(max_batch_size=0), "max_batch_size must be at least 1"),
        (dict(preferred_batch_sizes=[128]), "preferred_batch_sizes"),
        (dict(max_queue_delay_microseconds=-1), "must not be negative"),
        (dict(top_k=0), "at least 1"),
        (dict(precision="int4"), "repository.precision"),
        (dict(max_field_bytes=0), "max_field_bytes"),
        (dict(max_field_bytes=100, max_request_bytes=10), "max_field_bytes <= max_request_bytes"),
        (dict(queue_timeout_ms=0), "queue_timeout_ms"),
        (dict(max_queue_size=0), "max_queue_size"),
        (dict(length_buckets=[64, 32]), "length_buckets must be ascending positive lengths"),
        (dict(length_buckets=[0, 32]), "length_buckets must be ascending positive lengths"),
        (dict(length_buckets=[32, 32]), "length_buckets must be ascending positive lengths"),
        (dict(length_bucketing=True), "length_bucketing was replaced by repository.length_buckets"),
    ],
)
def test_bad_options_are_rejected(options, message):
    with pytest.raises(ValueError, match=message):
        RepositoryOptions(**options)


@pytest.mark.parametrize(
    "keep, served, active, candidate, loaded",
    [
        (2, [1], 1, 2, [1, 2]),
        (2, [1, 2], 2, 3, [2, 3]),
        (3, [1, 2], 2, 3, [1, 2, 3]),
        (2, [2, 3], 2, 4, [2, 4]),  # the active version stays loaded even when it is not the newest
        (1, [4], 4, 5, [4, 5]),  # never fewer than the active and the candidate
    ],
)
def test_versions_kept_loaded(keep, served, active, candidate, loaded):
    assert RepositoryOptions(version_policy_latest=keep).keep_loaded(served, active, candidate) == loaded


if __name__ == "__main__":
    if sys.argv[1:] != ["--update"]:
        sys.exit("usage: python tests/build/test_model_configs.py --update   (rewrites the golden files)")
    for variant in sorted(VARIANTS):
        for golden, text in rendered(variant).items():
            golden.parent.mkdir(parents=True, exist_ok=True)
            golden.write_text(text)
            print(f"wrote {golden}")


@pytest.mark.parametrize(
    "options, message",
    [
        (dict(gpu_accelerator="openvino"), "gpu_accelerator must be one of cuda, tensorrt"),
        (dict(gpu_accelerator="tensorrt"), "tensorrt needs device gpu"),
        (dict(device="gpu", classifier_backend="onnxruntime", gpu_accelerator="tensorrt"), "precision fp32"),
        (dict(precision="bf16"), "must be auto or one of fp32, fp16, int8"),
        (dict(fuse_steps=True, classifier_instances=2, classifier_backend="onnxruntime"), "needs device cpu"),
        (dict(fuse_steps=True, classifier_instances=2, device="gpu"), "needs device cpu and classifier_backend"),
        (dict(fuse_steps=True, classifier_instances=1), "fuse_steps needs classifier_instances >= 2"),
        (dict(fuse_steps="yes"), "fuse_steps must be true, false or auto"),
        (dict(fused_onnx_calls="sometimes"), "fused_onnx_calls must be one of per_ticket, batched"),
        (dict(onnx_intra_op_threads=-2), "onnx_intra_op_threads must be a thread count, 0 .* or -1"),
    ],
)
def test_bad_repository_options(options, message):
    with pytest.raises(ValueError, match=message):
        RepositoryOptions(**options)


@pytest.mark.parametrize(
    "options, fused",
    [
        (dict(), True),
        (dict(classifier_instances=1), False),  # the fused step needs two instances: auto falls back
        (dict(device="gpu"), False),
        (dict(classifier_backend="onnxruntime"), False),
        (dict(fuse_steps=False), False),
        (dict(fuse_steps=True), True),
    ],
)
def test_auto_fuses_the_steps_where_the_fused_step_applies(options, fused):
    options = RepositoryOptions(**options)
    assert options.fused is fused
    assert options.steps == (FUSED_STEPS if fused else THREE_STEPS)
