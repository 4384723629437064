"""``ticket-classifier evaluate``: the checkpoint's own test split, another file, and label mismatches."""

import json

import pytest

from ticket_classifier.cli import main
from ticket_classifier.training.demo_data import write_demo_csv

pytestmark = pytest.mark.slow


def test_evaluate_on_the_checkpoint_split(tiny_model, tmp_path, capsys):
    code = main(["evaluate", "--checkpoint", str(tiny_model.checkpoint), "--output-dir", str(tmp_path / "e")])
    out = capsys.readouterr().out
    assert code == 0 and "macro-F1" in out and "TF-IDF" in out
    summary = json.loads((tmp_path / "e" / "evaluation.json").read_text())
    training = json.loads((tiny_model.checkpoint / "report" / "evaluation.json").read_text())
    assert summary["test"]["macro_f1"] == pytest.approx(training["test"]["macro_f1"])


def test_evaluate_on_another_file(tiny_model, tmp_path, capsys):
    data = write_demo_csv(tmp_path / "later.csv", 120, seed=77, drifted=True)
    code = main(
        [
            "evaluate",
            "--checkpoint",
            str(tiny_model.checkpoint),
            "--data",
            str(data),
            "--output-dir",
            str(tmp_path / "e"),
            "--review-threshold",
            "0.3",
        ]
    )
    assert code == 0
    summary = json.loads((tmp_path / "e" / "evaluation.json").read_text())
    assert summary["test"]["examples"] == 120 and summary["test"]["review"]["threshold"] == 0.3


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
    config.write_text("output_dir: unused\n")
    code = main(["train", "--config", str(config), "--output-dir", str(tmp_path / "o"), "--wandb"])
    assert code == 1 and "wandb" in capsys.readouterr().err
