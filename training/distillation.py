"""A fast student tier: a small model trained on a fine-tuned teacher's softened probabilities.

``ticket-classifier distill --teacher CHECKPOINT --student KIND`` (or a training YAML with a
``distillation`` section). Kinds: ``transformer-N``, the teacher's own architecture with N of its
transformer layers (evenly spaced from the first to the last) and the teacher's embeddings, pooler
and head; ``cnn``, convolutions over the teacher's word embeddings (``training/cnn_student.py``). It
is trained on the teacher's training split (rebuilt from the teacher's configuration and checked
against the validation and test splits the teacher stored) with the loss

    alpha * T^2 * KL(softmax(teacher / T) || softmax(student / T)) + (1 - alpha) * hard-label loss

(Hinton et al., 2015), where the hard-label loss is the configured one (focal or cross-entropy, with
class weights). Everything else (early stopping, calibration, novelty detector, report, checkpoint)
is ``train``'s, so a student exports, passes the gates and serves exactly as a teacher does.
"""

import copy
import dataclasses
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ticket_classifier.config import config_from_mapping
from ticket_classifier.errors import TicketClassifierError
from ticket_classifier.runtime.tokenization import TicketTokenizer
from ticket_classifier.training.checkpoint import (
    METRICS_FILENAME,
    check_checkpoint,
    load_checkpoint,
    load_config_snapshot,
    read_split,
)
from ticket_classifier.training.cnn_student import cnn_student
from ticket_classifier.training.config import DistillationConfig, TrainingConfig
from ticket_classifier.training.data import DatasetSplits
from ticket_classifier.training.encoder import model_input_names
from ticket_classifier.training.inference import predict_logits

log = logging.getLogger(__name__)


class DistillationLoss(torch.nn.Module):
    """``alpha * T^2 * KL(teacher_T || student_T) + (1 - alpha) * hard_loss``, averaged over the batch."""

    def __init__(self, hard_loss: torch.nn.Module, temperature: float, alpha: float) -> None:
        super().__init__()
        self.hard_loss = hard_loss
        self.temperature = temperature
        self.alpha = alpha

    def forward(self, logits: torch.Tensor, targets: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
        """The mean loss of a batch, given the teacher's logits of the same rows."""
        t = self.temperature
        soft = torch.nn.functional.kl_div(
            torch.log_softmax(logits.float() / t, dim=-1),
            torch.log_softmax(teacher_logits.float() / t, dim=-1),
            log_target=True,
            reduction="batchmean",
        )
        return self.alpha * t * t * soft + (1.0 - self.alpha) * self.hard_loss(logits, targets)


def kept_layers(teacher_layers: int, student_layers: int) -> list[int]:
    """``student_layers`` indices of the teacher's layers, evenly spaced from the first to the last."""
    if not 1 <= student_layers < teacher_layers:
        raise TicketClassifierError(
            f"a transformer student needs between 1 and {teacher_layers - 1} layers (the teacher has "
            f"{teacher_layers}), got {student_layers}"
        )
    return sorted({int(round(i)) for i in np.linspace(0, teacher_layers - 1, student_layers)})


def _layer_stack(model) -> tuple[torch.nn.Module, str, torch.nn.ModuleList]:
    """The module holding the transformer layers, the attribute's name and the layers themselves."""
    count = getattr(model.config, "num_hidden_layers", None)
    for module in model.modules():
        for name, child in module.named_children():
            if isinstance(child, torch.nn.ModuleList) and len(child) == count:
                return module, name, child
    raise TicketClassifierError(f"cannot find the {count} transformer layers of a {type(model).__name__}")


def shallow_student(teacher_model, student_layers: int):
    """A copy of ``teacher_model`` that keeps ``student_layers`` of its layers (see :func:`kept_layers`)."""
    student = copy.deepcopy(teacher_model)
    parent, name, layers = _layer_stack(student)
    chosen = kept_layers(len(layers), student_layers)
    setattr(parent, name, torch.nn.ModuleList([layers[i] for i in chosen]))
    student.config.num_hidden_layers = len(chosen)
    return student, chosen


def parameter_count(model) -> int:
    """The model's number of parameters."""
    return sum(parameter.numel() for parameter in model.parameters())


@dataclass
class Student:
    """What ``train`` needs to distil: the student, the teacher's tokenizer and logits, the loss, a summary."""

    model: object
    tokenizer: object
    teacher_logits: np.ndarray  # (training rows, labels), in the training split's order
    summary: dict


def prepare_student(config: DistillationConfig, splits: DatasetSplits) -> Student:
    """Load the teacher, check it was trained on these splits, build the student and label the training
    split with the teacher's logits."""
    teacher = load_checkpoint(config.teacher)
    if list(teacher.labels) != list(splits.labels):
        raise TicketClassifierError(
            f"the teacher {config.teacher} knows other labels than its data has now: the data changed since training"
        )
    for name in ("validation", "test"):
        stored = read_split(teacher.directory, name)
        part = getattr(splits, name)
        if stored != (list(part.texts), list(part.labels)):
            raise TicketClassifierError(
                f"the {name} split rebuilt from the teacher's data is not the one {config.teacher} stored: "
                "the data file changed since the teacher was trained"
            )
    if config.student == "cnn":
        model, chosen = cnn_student(teacher.model), None
    else:
        model, chosen = shallow_student(teacher.model, config.student_layers)
    tokenizer = TicketTokenizer(  # the teacher's, with the inputs this student takes
        teacher.tokenizer.backend,
        input_names=model_input_names(model, teacher.tokenizer.input_names),
        max_length=teacher.tokenizer.max_length,
        pad_id=teacher.tokenizer.pad_id,
    )
    log.info("labelling %d training tickets with the teacher's logits", len(splits.train))
    teacher_logits = predict_logits(teacher.model, teacher.tokenizer, splits.train.texts, progress="teacher")
    teacher_test = json.loads((teacher.directory / METRICS_FILENAME).read_text()).get("test", {})
    summary = {
        "teacher": str(Path(config.teacher).resolve()),
        "teacher_test_macro_f1": teacher_test.get("macro_f1"),
        "student": config.student,
        "teacher_layers_kept": chosen,
        "temperature": config.temperature,
        "alpha": config.alpha,
        "parameters": parameter_count(model),
        "teacher_parameters": parameter_count(teacher.model),
    }
    log.info(
        "student %s (teacher layers kept: %s): %d parameters (teacher %d)",
        config.student,
        chosen,
        summary["parameters"],
        summary["teacher_parameters"],
    )
    return Student(model=model, tokenizer=tokenizer, teacher_logits=teacher_logits, summary=summary)


def distillation_config(
    teacher: str,
    output_dir: str,
    *,
    student: str,
    temperature: float,
    alpha: float,
    epochs: int | None = None,
    learning_rate: float | None = None,
):
    """The teacher's own training configuration, turned into a distillation run into ``output_dir``
    (``epochs`` and ``learning_rate``: the teacher's unless given)."""
    check_checkpoint(teacher)
    if Path(output_dir).resolve() == Path(teacher).resolve():
        raise TicketClassifierError("--output-dir must not be the teacher's folder")
    snapshot = load_config_snapshot(teacher)
    for path in filter(None, (snapshot.data.path, snapshot.data.test_path)):
        if not Path(path).is_file():
            raise TicketClassifierError(
                f"the teacher's training data {path} is not there: distill trains on the teacher's own data, so run "
                "it where the file is (relative paths: from the folder train ran in)"
            )
    merged = dataclasses.asdict(snapshot)
    merged["output_dir"] = output_dir
    merged["distillation"] = {
        "teacher": str(Path(teacher).resolve()),
        "student": student,
        "temperature": temperature,
        "alpha": alpha,
    }
    for key, value in (("epochs", epochs), ("learning_rate", learning_rate)):
        if value is not None:
            merged["optimization"][key] = value
    return config_from_mapping(TrainingConfig, merged, source="command line")
