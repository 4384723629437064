"""``ticket-classifier distill``: the shallow student, its loss, the run end to end (deterministic and
resumable) and its bad inputs. Serving a student: ``tests/integration/test_student_served.py``."""

import csv
import json
import shutil

import pytest
import torch
from safetensors.torch import load_file

from ticket_classifier.cli import main
from ticket_classifier.training.checkpoint import load_checkpoint, read_split
from ticket_classifier.training.cnn_student import cnn_student
from ticket_classifier.training.distillation import DistillationLoss, kept_layers, shallow_student
from ticket_classifier.training.losses import FocalLoss

pytestmark = pytest.mark.slow


def test_kept_layers_are_evenly_spaced_from_the_first_to_the_last():
    assert kept_layers(6, 3) == [0, 2, 5]
    assert kept_layers(6, 2) == [0, 5]
    assert kept_layers(6, 1) == [0]
    assert kept_layers(12, 4) == [0, 4, 7, 11]


@pytest.mark.parametrize("layers", [0, 6, 7])
def test_a_student_as_deep_as_its_teacher_or_empty_is_refused(layers):
    with pytest.raises(Exception, match="needs between 1 and 5 layers"):
        kept_layers(6, layers)


def test_the_loss_is_the_hard_loss_at_alpha_0_and_the_scaled_kl_at_alpha_1():
    torch.manual_seed(0)
    logits, teacher = torch.randn(8, 5), torch.randn(8, 5)
    targets = torch.randint(0, 5, (8,))
    hard = FocalLoss(gamma=0.0)
    assert torch.allclose(DistillationLoss(hard, 2.0, 0.0)(logits, targets, teacher), hard(logits, targets))
    p_teacher = torch.softmax(teacher / 2.0, dim=-1)
    kl = (p_teacher * (p_teacher.log() - torch.log_softmax(logits / 2.0, dim=-1))).sum(dim=-1).mean()
    assert torch.allclose(DistillationLoss(hard, 2.0, 1.0)(logits, targets, teacher), 4.0 * kl)
    assert DistillationLoss(hard, 2.0, 1.0)(teacher, targets, teacher).item() == pytest.approx(0.0, abs=1e-6)


def test_the_student_keeps_the_teachers_weights_of_the_kept_layers(tiny_model):
    teacher = load_checkpoint(tiny_model.checkpoint).model
    student, chosen = shallow_student(teacher, 1)
    assert chosen == [0] and student.config.num_hidden_layers == 1
    assert teacher.config.num_hidden_layers == 2  # the teacher is not changed
    teacher_weights, student_weights = teacher.state_dict(), student.state_dict()
    assert len(student_weights) < len(teacher_weights)
    for name, value in student_weights.items():
        assert torch.equal(value, teacher_weights[name])  # layer 0 keeps its name; embeddings and head copied
    inputs = {"input_ids": torch.tensor([[2, 5, 7, 3]]), "attention_mask": torch.ones(1, 4, dtype=torch.long)}
    assert student(**inputs).logits.shape == teacher(**inputs).logits.shape


def test_the_cnn_student_starts_from_the_teachers_embeddings_and_ignores_padding(tiny_model):
    teacher = load_checkpoint(tiny_model.checkpoint).model
    student = cnn_student(teacher).eval()
    assert torch.equal(student.get_input_embeddings().weight, teacher.get_input_embeddings().weight)
    assert student.config.id2label == teacher.config.id2label
    ids = torch.tensor([[2, 5, 7, 3, 0, 0, 0], [2, 9, 3, 0, 0, 0, 0]])
    mask = (ids != 0).long()
    padded = student(input_ids=ids, attention_mask=mask).logits
    tight = student(input_ids=ids[:, :4], attention_mask=mask[:, :4]).logits
    assert torch.allclose(padded, tight, atol=1e-6)  # a length bucket does not change the answer


def distill(teacher, output, *extra):
    """Run the CLI; returns its exit code."""
    return main(["distill", "--teacher", str(teacher), "--output-dir", str(output), "--student", "transformer-1",
                 "--epochs", "2", *extra])  # fmt: skip


def test_distill_writes_a_checkpoint_on_the_teachers_splits_deterministically_and_resumably(
    tiny_model, tmp_path, capsys
):
    assert distill(tiny_model.checkpoint, tmp_path / "a") == 0
    assert "checkpoint written to" in capsys.readouterr().out
    student = load_checkpoint(tmp_path / "a")
    assert (
        student.model.config.num_hidden_layers == 1 and student.labels == load_checkpoint(tiny_model.checkpoint).labels
    )
    for split in ("validation", "test"):
        assert read_split(tmp_path / "a", split) == read_split(tiny_model.checkpoint, split)
    metrics = json.loads((tmp_path / "a" / "metrics.json").read_text())
    assert metrics["distillation"]["student"] == "transformer-1"
    assert metrics["distillation"]["teacher_layers_kept"] == [0]
    assert metrics["distillation"]["parameters"] < metrics["distillation"]["teacher_parameters"]
    assert (tmp_path / "a" / "novelty_detector.npz").is_file()
    teacher = tiny_model.checkpoint.resolve()
    assert (
        f"Model: `transformer-1, distilled from the teacher {teacher}`"
        in (tmp_path / "a" / "report" / "report.md").read_text()
    )

    # Paused after 3 steps, then resumed: the same weights as the run without a pause.
    assert distill(tiny_model.checkpoint, tmp_path / "b", "--max-steps", "3") == 0
    assert "paused after step 3" in capsys.readouterr().out
    assert distill(tiny_model.checkpoint, tmp_path / "b", "--resume") == 0
    first, second = load_file(tmp_path / "a" / "model.safetensors"), load_file(tmp_path / "b" / "model.safetensors")
    assert first.keys() == second.keys()
    for name in first:
        assert torch.equal(first[name], second[name]), name


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--student", "bilstm"], "unknown distillation.student 'bilstm'"),
        (["--student", "transformer-0"], "unknown distillation.student 'transformer-0'"),
        (["--student", "transformer-2"], "needs between 1 and 1 layers (the teacher has 2)"),
        (["--alpha", "1.5"], "distillation.alpha must lie in [0, 1]"),
        (["--temperature", "0"], "distillation.temperature must be positive"),
        (["--max-steps", "0"], "--max-steps must be at least 1"),
    ],
)
def test_bad_student_options_are_one_line_errors(tiny_model, tmp_path, capsys, arguments, message):
    code = main(["distill", "--teacher", str(tiny_model.checkpoint), "--output-dir", str(tmp_path / "s"), *arguments])
    error = capsys.readouterr().err.strip()
    assert code == 1 and "\n" not in error and message in error
    assert not (tmp_path / "s" / "model.safetensors").exists()


def test_a_missing_or_unfinished_teacher_or_its_own_folder_is_refused(tiny_model, tmp_path, capsys):
    assert distill(tmp_path / "nowhere", tmp_path / "s") == 1
    assert "checkpoint folder not found" in capsys.readouterr().err
    unfinished = tmp_path / "unfinished"
    shutil.copytree(tiny_model.checkpoint, unfinished)
    (unfinished / "model.safetensors").unlink()
    assert distill(unfinished, tmp_path / "s") == 1
    assert "is incomplete: model.safetensors is missing" in capsys.readouterr().err
    assert distill(tiny_model.checkpoint, tiny_model.checkpoint) == 1
    assert "must not be the teacher's folder" in capsys.readouterr().err


def test_a_teacher_whose_data_changed_since_training_is_refused(tiny_model, tmp_path, capsys):
    teacher = tmp_path / "teacher"
    shutil.copytree(tiny_model.checkpoint, teacher)
    snapshot = teacher / "training_config.yaml"
    data_path = load_checkpoint_config_data_path(snapshot)
    changed = tmp_path / "changed.csv"
    with open(data_path, encoding="utf-8", newline="") as source, open(changed, "w", encoding="utf-8", newline="") as f:
        rows = list(csv.reader(source))
        column = rows[0].index("description")
        for row in rows[1::10]:
            row[column] += " (edited)"  # every 10th ticket edited since the teacher was trained
        csv.writer(f).writerows(rows)
    snapshot.write_text(snapshot.read_text().replace(data_path, str(changed)))
    assert distill(teacher, tmp_path / "s") == 1
    error = capsys.readouterr().err
    assert "split rebuilt from the teacher's data is not the one" in error and "changed" in error


def load_checkpoint_config_data_path(snapshot) -> str:
    """``data.path`` of a checkpoint's training configuration."""
    import yaml

    return yaml.safe_load(snapshot.read_text())["data"]["path"]


def test_an_unknown_student_kind_in_a_training_yaml_is_a_clear_error(tmp_path, capsys):
    config = tmp_path / "c.yaml"
    config.write_text("data:\n  path: some.csv\ndistillation:\n  teacher: t\n  student: bilstm\n")
    assert main(["train", "--config", str(config)]) == 1
    assert "unknown distillation.student 'bilstm': the kinds are cnn, or transformer-N" in capsys.readouterr().err
