"""The repository builder: layout, the runtime package copied as-is, versions and missing artifacts."""

import json
import shutil
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2

from ticket_classifier import runtime
from ticket_classifier.build.layout import (
    STATE_FILENAME,
    active_version,
    next_version,
    quarantine,
    read_state,
    versions,
    write_state,
)
from ticket_classifier.build.model_configs import RepositoryOptions, VersionBuild
from ticket_classifier.build.repository import build_repository, write_ensemble, write_member_configs
from ticket_classifier.build.version_check import check_version_files
from ticket_classifier.drift_reference import UNKNOWN_CATEGORY_SHARE
from ticket_classifier.errors import TicketClassifierError
from ticket_classifier.labels import read_labels, write_labels
from ticket_classifier.runtime.contract import CLASSIFIER, ENSEMBLE, PIPELINE, POSTPROCESS, RUNTIME_PACKAGE, TOKENIZER

pytestmark = pytest.mark.slow


def test_layout_and_single_label_list(tiny_model):
    repository = tiny_model.repository
    for model in (TOKENIZER, CLASSIFIER, POSTPROCESS):
        assert (repository / model / "config.pbtxt").is_file()
        assert (repository / model / "1").is_dir()
    assert (repository / ENSEMBLE / "config.pbtxt").is_file()
    assert (repository / CLASSIFIER / "1" / "model.onnx").is_file()
    assert (repository / CLASSIFIER / "1" / "build_report.json").is_file()
    label_files = sorted(path.relative_to(repository) for path in repository.rglob("labels.json"))
    assert [str(path) for path in label_files] == [f"{POSTPROCESS}/1/labels.json"]
    assert read_labels(repository / POSTPROCESS / "1") == read_labels(tiny_model.checkpoint)


def test_python_models_are_precompiled_for_this_interpreter(tiny_model):
    import sys

    tag = sys.implementation.cache_tag
    for model in (TOKENIZER, CLASSIFIER, POSTPROCESS):
        assert (tiny_model.repository / model / "1" / "__pycache__" / f"model.{tag}.pyc").is_file()


def test_drift_reference_travels_with_the_model_version(tiny_model):
    served = json.loads((tiny_model.repository / POSTPROCESS / "1" / "drift_reference.json").read_text())
    # the build adds the share of known tickets the novelty threshold flags (the unknown_category signal)
    assert 0 < served.pop(UNKNOWN_CATEGORY_SHARE) < 0.5
    assert served == json.loads((tiny_model.checkpoint / "drift_reference.json").read_text())


def test_serving_runs_the_runtime_package_file_for_file(tiny_model):
    source = Path(runtime.__file__).parent
    expected = sorted(path.relative_to(source) for path in source.glob("*.py"))
    for model, step in ((TOKENIZER, "tokenizer"), (CLASSIFIER, "classifier"), (POSTPROCESS, "postprocess")):
        version_dir = tiny_model.repository / model / "1"
        copied = version_dir / RUNTIME_PACKAGE
        assert sorted(path.relative_to(copied) for path in copied.glob("*.py")) == expected
        for name in expected:
            assert (copied / name).read_bytes() == (source / name).read_bytes()
        assert (version_dir / "model.py").read_bytes() == (source / "models" / step / "model.py").read_bytes()
        tag = sys.implementation.cache_tag
        assert (copied / "__pycache__" / f"text.{tag}.pyc").is_file(), "precompiled, so Triton never writes here"


def test_model_version_names_precision_and_digest(tiny_model):
    info = json.loads((tiny_model.repository / POSTPROCESS / "1" / "model_info.json").read_text())
    assert info["model_version"] == f"1-fp32-{info['onnx_sha256'][:8]}"


def test_new_version_is_added_beside_the_active_one(tiny_model, tmp_path):
    repository = tmp_path / "repo"
    onnx_dir = tiny_model.onnx.parent
    first = build_repository(tiny_model.checkpoint, onnx_dir, repository)
    second = build_repository(tiny_model.checkpoint, onnx_dir, repository)
    assert (first.version, second.version) == (1, 2)
    assert first.activated and not second.activated
    assert active_version(repository) == 1
    assert read_state(repository).served == [1], "a built version is not loaded before a rollout checked it"
    config = text_format.Parse((repository / PIPELINE / "config.pbtxt").read_text(), model_config_pb2.ModelConfig())
    assert list(config.version_policy.specific.versions) == [1]
    assert next_version(repository) == 3
    with pytest.raises(TicketClassifierError, match="already exists"):
        build_repository(tiny_model.checkpoint, onnx_dir, repository, version=2)


def test_changed_labels_need_a_new_repository(tiny_model, tmp_path):
    repository = tmp_path / "repo"
    build_repository(tiny_model.checkpoint, tiny_model.onnx.parent, repository)
    checkpoint = tmp_path / "checkpoint"
    shutil.copytree(tiny_model.checkpoint, checkpoint)
    write_labels(checkpoint, [f"x{i}" for i in range(8)])
    with pytest.raises(TicketClassifierError, match="labels differ from those of version 1"):
        build_repository(checkpoint, tiny_model.onnx.parent, repository)


def test_native_onnxruntime_variant_has_no_python_model(tiny_model, tmp_path):
    options = RepositoryOptions(device="gpu", classifier_backend="onnxruntime")
    build_repository(tiny_model.checkpoint, tiny_model.onnx.parent, tmp_path / "repo", options)
    assert not (tmp_path / "repo" / CLASSIFIER / "1" / "model.py").exists()
    assert 'platform: "onnxruntime_onnx"' in (tmp_path / "repo" / CLASSIFIER / "config.pbtxt").read_text()


def test_missing_precision_is_named(tiny_model, tmp_path):
    with pytest.raises(TicketClassifierError, match=r"int8 was not exported to .*; run 'ticket-classifier export"):
        build_repository(
            tiny_model.checkpoint, tiny_model.onnx.parent, tmp_path / "repo", RepositoryOptions(precision="int8")
        )
    assert not (tmp_path / "repo").exists()


def test_missing_onnx_folder(tiny_model, tmp_path):
    with pytest.raises(TicketClassifierError, match="build_report.json is missing: export the checkpoint"):
        build_repository(tiny_model.checkpoint, tmp_path / "absent", tmp_path / "repo")


def test_incomplete_checkpoint_names_the_missing_file(tiny_model, tmp_path):
    checkpoint = tmp_path / "checkpoint"
    shutil.copytree(tiny_model.checkpoint, checkpoint)
    (checkpoint / "labels.json").unlink()
    with pytest.raises(TicketClassifierError, match="labels.json is missing"):
        build_repository(checkpoint, tiny_model.onnx.parent, tmp_path / "repo")


def test_missing_checkpoint_folder(tiny_model, tmp_path):
    with pytest.raises(TicketClassifierError, match="checkpoint folder not found"):
        build_repository(tmp_path / "nothing", tiny_model.onnx.parent, tmp_path / "repo")


@pytest.fixture
def two_versions(tiny_model, tmp_path, three_steps):
    repository = tmp_path / "repo"
    for _ in range(2):
        build_repository(tiny_model.checkpoint, tiny_model.onnx.parent, repository, three_steps)
    return repository


def test_a_quarantined_version_is_moved_aside_recorded_and_its_number_never_reused(two_versions):
    quarantine(two_versions, 2, "model.onnx does not run")
    for model in (TOKENIZER, CLASSIFIER, POSTPROCESS):
        assert versions(two_versions, model) == [1]
        assert (two_versions / model / "quarantined-2").is_dir()
    state = read_state(two_versions)
    assert state.quarantined == {"2": "model.onnx does not run"} and state.active == 1
    assert next_version(two_versions) == 3


def test_a_repository_without_its_state_file_is_named(two_versions):
    (two_versions / STATE_FILENAME).unlink()
    with pytest.raises(TicketClassifierError, match="has no repository_state.json: it was built by an older"):
        active_version(two_versions)


def test_a_damaged_state_file_is_named(two_versions):
    (two_versions / STATE_FILENAME).write_text('{"active": "x"}')
    with pytest.raises(TicketClassifierError, match="repository_state.json is damaged"):
        read_state(two_versions)


def test_the_offline_check_passes_a_good_version(two_versions):
    check_version_files(two_versions, 2)


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda v: (v / CLASSIFIER / "2" / "model.onnx").write_bytes(b"\x08\x07truncated"), "model.onnx does not run"),
        (lambda v: (v / CLASSIFIER / "2" / "model.onnx").unlink(), "ticket_classifier_onnx/2/model.onnx is missing"),
        (lambda v: (v / TOKENIZER / "2" / "tokenizer.json").write_text("{"), "unreadable files"),
        (lambda v: (v / POSTPROCESS / "2" / "model.py").write_text("def broken(:\n"), "model.py does not compile"),
        (
            lambda v: (v / POSTPROCESS / "2" / "labels.json").write_text('["a", "b"]'),
            "not probabilities over 2 labels|unreadable",
        ),
    ],
)
def test_the_offline_check_names_what_is_broken(two_versions, damage, message):
    damage(two_versions)
    with pytest.raises(TicketClassifierError, match=message):
        check_version_files(two_versions, 2)


@pytest.mark.parametrize("tiny_model", ["bert"], indirect=True)
def test_each_build_records_what_its_configurations_are_generated_from(tiny_model, tmp_path, three_steps):
    repository = tmp_path / "repo"
    onnx_dir = tiny_model.onnx.parent
    build_repository(tiny_model.checkpoint, onnx_dir, repository, three_steps)
    written = {model: (repository / model / "config.pbtxt").read_text() for model in (ENSEMBLE, TOKENIZER, CLASSIFIER)}
    build_repository(tiny_model.checkpoint, onnx_dir, repository, replace(three_steps, length_buckets=[]))
    state = read_state(repository)
    assert state.active == 1 and state.served == [1], "a build only adds its record"
    first, second = (VersionBuild.from_record(state.build(version)) for version in (1, 2))
    assert first.options.length_buckets == [32, 64] and second.options.length_buckets == []
    assert first.num_labels == len(json.loads((repository / POSTPROCESS / "1" / "labels.json").read_text()))
    # regenerated from the record alone, with the version's files gone, the configurations are the same
    for model in (TOKENIZER, CLASSIFIER, POSTPROCESS):
        shutil.rmtree(repository / model / "1" / RUNTIME_PACKAGE, ignore_errors=True)
    (repository / TOKENIZER / "1" / "tokenizer.json").unlink()
    (repository / POSTPROCESS / "1" / "labels.json").unlink()
    write_member_configs(repository, first, [1])
    write_ensemble(repository, first, 1)
    assert {model: (repository / model / "config.pbtxt").read_text() for model in written} == written


def test_a_version_without_a_build_record_is_named(two_versions):
    state = read_state(two_versions)
    del state.builds["2"]
    write_state(two_versions, state)
    with pytest.raises(TicketClassifierError, match="version 2 has no build record in repository_state.json"):
        read_state(two_versions).build(2)
