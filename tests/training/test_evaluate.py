"""``ticket-classifier evaluate``: the checkpoint's own test split, another file, and label mismatches."""

import json
import shutil

import pytest

from ticket_classifier.build.layout import step_folders
from ticket_classifier.cli import main
from ticket_classifier.runtime.contract import POSTPROCESS, REVIEW_POLICY_FILENAME
from ticket_classifier.training.checkpoint import load_checkpoint, read_split
from ticket_classifier.training.demo_data import write_demo_csv
from ticket_classifier.training.novelty import features_and_logits, load_detector

pytestmark = pytest.mark.slow


def test_evaluate_on_the_stored_split_from_another_folder_without_the_data(tiny_model, tmp_path, capsys, monkeypatch):
    checkpoint = tmp_path / "moved" / "checkpoint"
    shutil.copytree(tiny_model.checkpoint, checkpoint)
    metrics = json.loads((checkpoint / "metrics.json").read_text())
    metrics["baseline"] = {"name": "TF-IDF (1-2 grams) + linear SVM", "accuracy": 0.5, "macro_f1": 0.4,
                           "weighted_f1": 0.45, "per_class": training_per_class(tiny_model)}  # fmt: skip
    (checkpoint / "metrics.json").write_text(json.dumps(metrics))
    monkeypatch.chdir(tmp_path)  # neither the project nor the CSV is here
    code = main(["evaluate", "--checkpoint", str(checkpoint), "--output-dir", str(tmp_path / "e")])
    out = capsys.readouterr().out
    assert code == 0 and "macro-F1" in out and "TF-IDF" in out
    summary = json.loads((tmp_path / "e" / "evaluation.json").read_text())
    training = json.loads((tiny_model.checkpoint / "report" / "evaluation.json").read_text())
    assert summary["test"]["macro_f1"] == pytest.approx(training["test"]["macro_f1"])
    assert summary["test"]["examples"] == training["test"]["examples"]


def training_per_class(tiny_model) -> dict:
    """Per-class numbers of the tiny model's report, used as a stand-in baseline."""
    return json.loads((tiny_model.checkpoint / "report" / "evaluation.json").read_text())["test"]["per_class"]


def test_evaluate_on_another_file(tiny_model, tmp_path, capsys):
    data = write_demo_csv(tmp_path / "later.csv", 120, seed=77, drifted=True)
    policy = tmp_path / "policy.yaml"
    policy.write_text("review:\n  confidence_threshold: 0.3\n  critical_categories: {Security: 0.2}\n")
    code = main(
        [
            "evaluate",
            "--checkpoint",
            str(tiny_model.checkpoint),
            "--data",
            str(data),
            "--output-dir",
            str(tmp_path / "e"),
            "--review-policy",
            str(policy),
        ]
    )
    assert code == 0
    summary = json.loads((tmp_path / "e" / "evaluation.json").read_text())
    review = summary["test"]["review"]
    assert summary["test"]["examples"] == 120 and review["threshold"] == 0.3
    assert review["policy"]["critical_categories"] == {"Security": 0.2}
    assert list(summary["test"]["critical_recall"]) == ["Security"], "the policy's critical categories are reported"


def test_the_review_numbers_count_every_rule_the_server_applies(tiny_model, tmp_path, capsys):
    built = step_folders(tiny_model.repository, 1)[POSTPROCESS] / REVIEW_POLICY_FILENAME
    served = json.loads(built.read_text())["novelty_threshold"]  # what build-repository gave the server
    training = json.loads((tiny_model.checkpoint / "report" / "evaluation.json").read_text())["test"]["review"]
    assert training["policy"]["novelty_threshold"] == served is not None
    checkpoint = load_checkpoint(tiny_model.checkpoint)
    features, _ = features_and_logits(
        checkpoint.model, checkpoint.tokenizer, read_split(checkpoint.directory, "test")[0]
    )
    novelty = load_detector(checkpoint.directory).score(features)
    assert 0 < training["by_rule"]["unknown_category"] == int((novelty > served).sum())
    assert "unknown category above novelty" in (tiny_model.checkpoint / "report" / "report.md").read_text()
    assert main(["evaluate", "--checkpoint", str(tiny_model.checkpoint), "--output-dir", str(tmp_path / "e")]) == 0
    assert json.loads((tmp_path / "e" / "evaluation.json").read_text())["test"]["review"] == training
    policy = tmp_path / "policy.yaml"  # a threshold every score exceeds: the rule must fire on every ticket
    policy.write_text("review:\n  confidence_threshold: 0.0\n  novelty_threshold: 0.0\n")
    code = main(["evaluate", "--checkpoint", str(tiny_model.checkpoint), "--output-dir", str(tmp_path / "all"),
                 "--review-policy", str(policy)])  # fmt: skip
    assert code == 0
    review = json.loads((tmp_path / "all" / "evaluation.json").read_text())["test"]["review"]
    assert review["by_rule"]["unknown_category"] == review["to_review"] == training["routed"] + training["to_review"]


def test_a_review_policy_naming_unknown_categories_is_named(tiny_model, tmp_path, capsys):
    policy = tmp_path / "policy.yaml"
    policy.write_text("review:\n  critical_categories: {Fraud: 0.2}\n")
    code = main(["evaluate", "--checkpoint", str(tiny_model.checkpoint), "--review-policy", str(policy)])
    error = capsys.readouterr().err
    assert code == 1 and "policy.yaml: the review policy names categories the model does not know" in error
    assert "review.critical_categories: Fraud" in error


def test_labels_unknown_to_the_model_are_an_error(tiny_model, tmp_path, capsys):
    data = tmp_path / "other.csv"
    data.write_text("ticket_id,created_at,subject,description,category\n1,2025-01-01,VPN,down,Telephony\n")
    code = main(["evaluate", "--checkpoint", str(tiny_model.checkpoint), "--data", str(data)])
    error = capsys.readouterr().err.strip()
    assert code == 1 and "\n" not in error
    assert "labels the model was not trained on: Telephony" in error


def test_wandb_without_the_package_is_a_clear_error(tmp_path, capsys):
    try:
        import wandb  # noqa: F401

        pytest.skip("wandb is installed here")
    except ImportError:
        pass
    config = tmp_path / "c.yaml"
    config.write_text("data:\n  path: some.csv\noutput_dir: unused\n")
    code = main(["train", "--config", str(config), "--output-dir", str(tmp_path / "o"), "--wandb"])
    assert code == 1 and "wandb" in capsys.readouterr().err


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--config", "c.yaml"], "--config and --epochs go with --held-out-classes"),
        (["--epochs", "2"], "--config and --epochs go with --held-out-classes"),
        (["--held-out-classes", "2"], "--held-out-classes needs --config"),
        (["--held-out-classes", "2", "--config", "c.yaml", "--data", "d.csv"], "--data and --review-policy do not go"),
        (
            ["--held-out-classes", "2", "--config", "c.yaml", "--flag-rate", "0.7"],
            "flag rate must be between 0 and 0.5",
        ),
        (["--held-out-classes", "0", "--config", "c.yaml"], "--held-out-classes must be between 1 and"),
    ],
)
def test_held_out_flags_that_do_not_fit_together_are_one_line_errors(arguments, message, tmp_path, capsys, monkeypatch):
    write_demo_csv(tmp_path / "d.csv")
    (tmp_path / "c.yaml").write_text("data:\n  path: d.csv\noutput_dir: unused\n")
    monkeypatch.chdir(tmp_path)
    code = main(["evaluate", *arguments])
    error = capsys.readouterr().err.strip()
    assert code == 1 and "\n" not in error and message in error
    assert not (tmp_path / "unused").exists()  # refused before any training


def test_the_summary_table_writes_n_a_where_there_is_no_number():
    from ticket_classifier.training.evaluation import summary_table

    review = {"coverage": 0.0, "accuracy": float("nan"), "to_review": 72}
    summary = {
        "test": {"accuracy": 0.72, "macro_f1": 0.68, "ece": 0.61, "examples": 72, "review": review},
        "baseline": {"name": "TF-IDF (1-2 grams) + linear SVM", "accuracy": 0.93, "macro_f1": 0.93},
    }
    table = summary_table(summary)
    assert "nan" not in table
    assert table.splitlines()[2].split()[-1] == "n/a"  # the baseline has no ECE
    assert "routed automatically at accuracy n/a; 72 of 72 to review" in table
