"""What build-repository refuses to serve, and the model card it writes for what it serves."""

import hashlib
import json
import shutil

import pytest

from ticket_classifier.build.layout import versions
from ticket_classifier.build.model_configs import RepositoryOptions
from ticket_classifier.build.onnx_export import export_variants
from ticket_classifier.build.parity import Gate
from ticket_classifier.build.repository import build_repository
from ticket_classifier.clients.review import ReviewPolicy
from ticket_classifier.errors import TicketClassifierError
from ticket_classifier.runtime.contract import NOVELTY_SCORE, POSTPROCESS

pytestmark = [pytest.mark.slow, pytest.mark.parametrize("tiny_model", ["bert"], indirect=True)]


@pytest.fixture
def weak_checkpoint(tiny_model, tmp_path):
    """The tiny checkpoint, with a TF-IDF baseline far above it recorded in its metrics."""
    checkpoint = tmp_path / "checkpoint"
    shutil.copytree(tiny_model.checkpoint, checkpoint)
    metrics = json.loads((checkpoint / "metrics.json").read_text())
    metrics["baseline"] = {"name": "TF-IDF (1-2 grams) + linear SVM", "accuracy": 0.97, "macro_f1": 0.96}
    (checkpoint / "metrics.json").write_text(json.dumps(metrics))
    return checkpoint


def test_a_precision_below_its_gate_leaves_nothing_servable_and_is_refused(tiny_model, tmp_path):
    onnx = tmp_path / "onnx"
    with pytest.raises(TicketClassifierError, match="parity gate failed"):
        export_variants(tiny_model.checkpoint, onnx, precisions=("fp32",), gates={"fp32": Gate(1.01, 1.0, 0.0)})
    assert not (onnx / "model.fp32.onnx").exists()
    report = json.loads((onnx / "build_report.json").read_text())
    assert report["variants"][0]["passed"] is False and report["variants"][0]["file"] is None
    shutil.copyfile(tiny_model.onnx, onnx / "model.fp32.onnx")  # even if someone puts a file back
    with pytest.raises(TicketClassifierError, match="fp32 failed its parity gate at export .* it is not servable"):
        build_repository(tiny_model.checkpoint, onnx, tmp_path / "repo")
    assert not (tmp_path / "repo").exists()


def test_int8_below_its_gate_is_deleted_and_auto_serves_fp32(tiny_model, tmp_path):
    """The export goes on (FP32 passed); the failed INT8 is never served: auto takes FP32, naming INT8 is refused."""
    onnx = tmp_path / "onnx"
    report = export_variants(
        tiny_model.checkpoint,
        onnx,
        precisions=("fp32", "int8"),
        int8_scheme="dynamic",
        gates={"int8": Gate(1.01, 1.0, 0.0)},
    )
    assert [variant["passed"] for variant in report["variants"]] == [True, False]
    assert not (onnx / "model.int8.onnx").exists()
    built = build_repository(tiny_model.checkpoint, onnx, tmp_path / "repo")
    assert json.loads((built.model_card.parent / "model_card.json").read_text())["precision"] == "fp32"
    with pytest.raises(TicketClassifierError, match="int8 failed its parity gate at export .* it is not servable"):
        build_repository(tiny_model.checkpoint, onnx, tmp_path / "repo2", RepositoryOptions(precision="int8"))


def test_a_model_below_its_baseline_is_refused_then_served_with_the_flag(weak_checkpoint, tiny_model, tmp_path, caplog):
    with pytest.raises(TicketClassifierError, match="below its own TF-IDF baseline's 0.960") as refused:
        build_repository(weak_checkpoint, tiny_model.onnx.parent, tmp_path / "repo")
    assert "--allow-below-baseline" in str(refused.value) and not (tmp_path / "repo").exists()
    built = build_repository(weak_checkpoint, tiny_model.onnx.parent, tmp_path / "repo", allow_below_baseline=True)
    card = json.loads((built.model_card.parent / "model_card.json").read_text())
    assert card["quality_gate"]["overridden"] and not card["quality_gate"]["passed"]
    assert "BELOW: served only because --allow-below-baseline was given" in built.model_card.read_text()
    warned = [record.getMessage() for record in caplog.records if record.levelname == "WARNING"]
    assert any("below its own TF-IDF baseline's 0.960 (--allow-below-baseline)" in message for message in warned)


def test_a_floor_on_macro_f1_is_a_gate_too(tiny_model, tmp_path):
    with pytest.raises(TicketClassifierError, match="below repository.min_macro_f1 0.990"):
        build_repository(
            tiny_model.checkpoint, tiny_model.onnx.parent, tmp_path / "repo", RepositoryOptions(min_macro_f1=0.99)
        )


def test_the_model_card_states_data_quality_calibration_parity_and_review(tiny_model, demo_csv, tmp_path):
    policy = ReviewPolicy(confidence_threshold=0.5, critical_categories={"Security": 0.2})
    built = build_repository(tiny_model.checkpoint, tiny_model.onnx.parent, tmp_path / "repo", review_policy=policy)
    card = json.loads((built.model_card.parent / "model_card.json").read_text())
    assert card["model_version"] == built.model_version
    assert card["data"]["files"][0]["sha256"] == hashlib.sha256(demo_csv.read_bytes()).hexdigest()
    assert card["data"]["rows_read"] == 480 and set(card["data"]["rows"]) == {"train", "validation", "test"}
    assert card["data"]["date_range"][0] < card["data"]["date_range"][1]
    assert card["quality_gate"]["passed"] and card["test"]["macro_f1"] > 0
    assert set(card["per_class"]) == set(card["labels"])
    assert card["calibration"]["choice"]["reason"]
    assert card["parity"][0]["precision"] == "fp32" and card["parity"][0]["passed"]
    review = card["review"]
    assert review["policy"]["critical_categories"] == {"Security": 0.2}
    assert review["routed"] + review["to_review"] == card["data"]["rows"]["test"]
    markdown = built.model_card.read_text()
    for heading in ("## Data", "## Quality (test split)", "## Calibration", "## Parity", "## Review policy served"):
        assert heading in markdown


def test_a_review_policy_naming_unknown_categories_is_named_with_its_source(tiny_model, tmp_path):
    with pytest.raises(TicketClassifierError, match="my_policy.yaml: the review policy names categories") as error:
        build_repository(
            tiny_model.checkpoint,
            tiny_model.onnx.parent,
            tmp_path / "repo",
            review_policy=ReviewPolicy(critical_categories={"Fraud": 0.1}),
            review_policy_source="my_policy.yaml",
        )
    assert "review.critical_categories: Fraud" in str(error.value) and "Security" in str(error.value)


def test_an_export_from_before_the_review_gate_is_named_not_crashed_on(tiny_model, tmp_path):
    onnx = tmp_path / "onnx"
    shutil.copytree(tiny_model.onnx.parent, onnx)
    report = json.loads((onnx / "build_report.json").read_text())
    for variant in report["variants"]:
        del variant["review_agreement"], variant["mean_probability_difference"]
    (onnx / "build_report.json").write_text(json.dumps(report))
    with pytest.raises(TicketClassifierError, match="has no mean_probability_difference, review_agreement for fp32"):
        build_repository(tiny_model.checkpoint, onnx, tmp_path / "repo")
    assert not (tmp_path / "repo").exists()


def test_an_export_from_before_the_novelty_output_is_named_not_crashed_on(tiny_model, tmp_path):
    import onnx

    folder = tmp_path / "onnx"
    shutil.copytree(tiny_model.onnx.parent, folder)
    model = onnx.load(str(folder / "model.fp32.onnx"))
    kept = [output for output in model.graph.output if output.name != NOVELTY_SCORE]
    del model.graph.output[:]
    model.graph.output.extend(kept)  # as exported before issue 16
    onnx.save(model, str(folder / "model.fp32.onnx"))
    with pytest.raises(TicketClassifierError, match=f"has no output {NOVELTY_SCORE}: it was exported by an older"):
        build_repository(tiny_model.checkpoint, folder, tmp_path / "repo")
    (folder / "model.fp32.onnx").write_bytes(b"not a model")
    with pytest.raises(TicketClassifierError, match="is not a readable ONNX model"):
        build_repository(tiny_model.checkpoint, folder, tmp_path / "repo")
    assert not (tmp_path / "repo").exists()


def test_a_build_that_fails_half_way_leaves_nothing_of_its_version(tiny_model, tmp_path, monkeypatch, three_steps):
    import ticket_classifier.build.repository as repository_module

    repository = tmp_path / "repo"
    build_repository(tiny_model.checkpoint, tiny_model.onnx.parent, repository, three_steps)
    state = (repository / "repository_state.json").read_text()

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(repository_module, "write_model_card", disk_full)  # the one fault not made for real
    with pytest.raises(OSError, match="No space left"):
        build_repository(tiny_model.checkpoint, tiny_model.onnx.parent, repository, three_steps)
    for model in ("ticket_classifier_tokenizer", "ticket_classifier_onnx", POSTPROCESS):
        assert versions(repository, model) == [1]
    assert (repository / "repository_state.json").read_text() == state
