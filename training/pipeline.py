"""``ticket-classifier train`` and ``evaluate``: data -> fine-tuning -> calibration -> checkpoint -> report."""

import json
import logging
import resource
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ticket_classifier.drift_reference import DRIFT_REFERENCE_MIN_EXAMPLES, drift_reference
from ticket_classifier.errors import TicketClassifierError
from ticket_classifier.labels import read_labels
from ticket_classifier.training.baseline import tfidf_svm_baseline
from ticket_classifier.training.calibration import choose_temperature, expected_calibration_error
from ticket_classifier.training.checkpoint import (
    METRICS_FILENAME,
    check_checkpoint,
    load_checkpoint,
    load_config_snapshot,
    read_review_policy,
    read_split,
    save_checkpoint,
)
from ticket_classifier.training.config import TrainingConfig
from ticket_classifier.training.data import DataReport, data_provenance, load_labeled_texts, prepare_splits
from ticket_classifier.training.distillation import DistillationLoss, prepare_student
from ticket_classifier.training.distributed import World, current_world, main_process_logs, process_group
from ticket_classifier.training.encoder import load_classifier, load_ticket_tokenizer
from ticket_classifier.training.evaluation import (
    EvaluationInputs,
    checked_review_policy,
    targets_for,
    write_evaluation,
)
from ticket_classifier.training.freezing import freeze
from ticket_classifier.training.inference import softmax
from ticket_classifier.training.losses import make_loss
from ticket_classifier.training.novelty import (
    SHIPPED_SCORE,
    features_and_logits,
    fit_detector,
    load_detector,
    save_detector,
    served_policy,
)
from ticket_classifier.training.trainer import Trainer, set_seed

log = logging.getLogger(__name__)

RUN_LOG_FILENAME = "train.log"
REPORT_DIRNAME = "report"


@dataclass
class TrainingResult:
    """What a training run produced (``completed`` is False when it paused after ``max_steps``)."""

    checkpoint_dir: Path
    metrics: dict
    evaluation: dict
    completed: bool = True


@contextmanager
def run_log(path: Path):
    """Copy every log record of the run into ``path``."""
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    previous_level = root.level
    root.addHandler(handler)
    root.setLevel(min(previous_level or logging.INFO, logging.INFO))
    try:
        yield
    except Exception as exc:
        stopped = {"name": __name__, "levelno": logging.ERROR, "levelname": "ERROR", "msg": f"training stopped: {exc}"}
        handler.handle(logging.makeLogRecord(stopped))  # the file only: the command line prints the error itself
        raise
    finally:
        root.removeHandler(handler)
        root.setLevel(previous_level)
        handler.close()


def peak_memory_mb() -> float:
    """Peak resident memory of this process so far, in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def train(
    config: TrainingConfig,
    *,
    resume: bool = False,
    max_steps: int | None = None,
    wandb: bool = False,
    show_progress: bool = True,
) -> TrainingResult:
    """Train, calibrate, evaluate and write the checkpoint and its report to ``config.output_dir``.

    ``max_steps`` limits this sitting (the run pauses and can be resumed); ``resume`` continues.
    Under torchrun every process trains (``training/distributed.py``) and the main process alone
    writes into ``config.output_dir`` and finishes the checkpoint; the others return once training
    ends, with ``metrics`` holding only ``global_step`` and an empty ``evaluation``.
    """
    world = current_world()
    world.check_batch_size(config.optimization.batch_size)
    if not world.is_main:
        with main_process_logs(world):
            return _train(config, world, resume=resume, max_steps=max_steps, wandb=False, show_progress=False)
    output_dir = Path(config.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    with run_log(output_dir / RUN_LOG_FILENAME):
        return _train(config, world, resume=resume, max_steps=max_steps, wandb=wandb, show_progress=show_progress)


def _train(
    config: TrainingConfig, world: World, *, resume: bool, max_steps, wandb: bool, show_progress: bool
) -> TrainingResult:
    started = time.monotonic()
    optimization = config.optimization
    wandb_run = _start_wandb(config) if wandb else None
    set_seed(optimization.seed)  # before the new classification head is initialised
    splits = prepare_splits(config.data, optimization.seed)
    policy = checked_review_policy(config.evaluation, splits.labels)  # fail before training, not after
    student = prepare_student(config.distillation, splits) if config.distillation.teacher else None
    if student is None:
        model = load_classifier(config.model.encoder, splits.labels)
        tokenizer = load_ticket_tokenizer(config.model.encoder, model, max_length=config.model.max_length)
    else:
        model, tokenizer = student.model, student.tokenizer
    if config.model.freeze_embeddings or config.model.freeze_layers:
        frozen = freeze(model, embeddings=config.model.freeze_embeddings, layers=config.model.freeze_layers)
        log.info("froze %d of %d parameters", frozen, sum(p.numel() for p in model.parameters()))
    loss_fn = make_loss(optimization, splits.labels, splits.train.labels)
    if student is not None:
        loss_fn = DistillationLoss(loss_fn, config.distillation.temperature, config.distillation.alpha)
    with process_group(world):
        trainer = Trainer(
            model, tokenizer, splits, loss_fn, config, world, teacher_logits=student and student.teacher_logits
        )
        trainer.wandb_run = wandb_run
        state = trainer.fit(resume=resume, max_steps=max_steps, show_progress=show_progress)
    if state.paused or not world.is_main:
        metrics = {"global_step": state.global_step}
        return TrainingResult(Path(config.output_dir), metrics, {}, completed=not state.paused)
    model = trainer.model.cpu()

    validation_features, validation_logits = features_and_logits(model, tokenizer, splits.validation.texts)
    validation_targets = targets_for(splits.validation.labels, splits.labels, "validation split")
    calibration = choose_temperature(validation_logits, validation_targets)
    temperature = calibration["temperature"]
    bins = config.evaluation.calibration_bins
    validation_ece = {
        "before": expected_calibration_error(softmax(validation_logits), validation_targets, bins),
        "after": expected_calibration_error(softmax(validation_logits, temperature), validation_targets, bins),
    }
    log.info("%s; validation ECE %.4f -> %.4f", calibration["reason"], *validation_ece.values())
    test_features, test_logits = features_and_logits(model, tokenizer, splits.test.texts)
    detector, validation_novelty = fit_detector(model, tokenizer, splits, validation_features)
    test_novelty = detector.score(test_features)
    novelty = {
        "detector": SHIPPED_SCORE,
        "features": int(detector.precision_factor.shape[0]),
        "flag_rate": detector.flag_rate,
        "threshold": detector.threshold,
        "test_in_scope_flagged": round(float(np.mean(test_novelty > detector.threshold)), 4),
    }
    log.info(
        "novelty detector: %s on %d features, threshold %.2f flags %.1f%% of the test split (%.0f%% of validation)",
        SHIPPED_SCORE,
        novelty["features"],
        detector.threshold,
        100 * novelty["test_in_scope_flagged"],
        100 * detector.flag_rate,
    )
    reference = drift_reference(
        softmax(np.concatenate([validation_logits, test_logits]), temperature),
        splits.labels,
        f"validation and test splits of {config.data.path}",
    )
    notes = [f"- Data: {splits.report.split}; {_counts_sentence(splits.report.as_dict())}"]
    notes.append(f"- Calibration: {calibration['reason']}.")
    if reference["examples"] < DRIFT_REFERENCE_MIN_EXAMPLES:
        notes.append(
            f"- Warning: the drift reference summarises only {reference['examples']} predictions (fewer than "
            f"{DRIFT_REFERENCE_MIN_EXAMPLES}): expect noisy PSI for in-distribution traffic."
        )
        log.warning("drift reference from only %d predictions", reference["examples"])
    baseline = (
        tfidf_svm_baseline(splits.train, splits.test, splits.labels, seed=optimization.seed)
        if config.evaluation.baseline
        else None
    )
    directory = Path(config.output_dir)
    evaluation = write_evaluation(
        EvaluationInputs(
            title=f"{Path(config.data.path).name} ({config.model.encoder})",
            model=config.model.encoder if student is None else _student_name(student.summary),
            data=", ".join(splits.report.files),
            split="test",
            labels=splits.labels,
            temperature=temperature,
            texts=splits.test.texts,
            logits=test_logits,
            targets=targets_for(splits.test.labels, splits.labels, "test split"),
            novelty=test_novelty,
        ),
        config.evaluation,
        served_policy(policy, detector),  # the report counts every rule the server applies, at the default rate
        directory / REPORT_DIRNAME,
        baseline=baseline,
        extra_ece={"validation": validation_ece},
        notes=notes,
    )
    metrics = {
        "labels": splits.labels,
        "encoder": config.model.encoder,
        "data": splits.report.as_dict(),
        "history": state.history,
        "best_epoch": state.best_epoch,
        "stopped_early": state.stopped_early,
        "provenance": data_provenance(config.data, splits),
        "temperature": temperature,
        "calibration": calibration,
        "validation_ece": validation_ece,
        "test": {key: evaluation["test"][key] for key in ("accuracy", "macro_f1", "weighted_f1", "ece")},
        "baseline": baseline,
        "novelty": novelty,
        "distillation": student and student.summary,
        "training_seconds": round(time.monotonic() - started, 1),
        "peak_memory_mb": round(peak_memory_mb(), 1),
    }
    save_checkpoint(
        directory,
        model=model,
        tokenizer=tokenizer,
        labels=splits.labels,
        temperature=temperature,
        config=config,
        metrics=metrics,
        drift_reference=reference,
        splits={"validation": splits.validation, "test": splits.test},
        review_policy=policy,
    )
    save_detector(directory, detector, validation_novelty)
    if trainer.wandb_run is not None:
        trainer.wandb_run.summary.update(metrics["test"])
        trainer.wandb_run.finish()
    return TrainingResult(checkpoint_dir=directory, metrics=metrics, evaluation=evaluation)


def _student_name(summary: dict) -> str:
    """A distilled student, as the report names its model."""
    return f"{summary['student']}, distilled from the teacher {summary['teacher']}"


def _counts_sentence(report: dict) -> str:
    """The data report in one sentence."""
    return (
        f"{report['rows_read']} rows read, {report['dropped_empty_text']} without text and "
        f"{report['dropped_empty_label']} without label dropped, duplicates removed "
        f"{report['duplicates_removed']}, rows per split {report['rows']}"
    )


def _start_wandb(config: TrainingConfig):
    """A Weights & Biases run, only when the package is installed."""
    try:
        import wandb
    except ImportError:
        raise TicketClassifierError("--wandb needs the wandb package: pip install wandb") from None
    from dataclasses import asdict

    return wandb.init(project="ticket-classifier", config=asdict(config))


def evaluate_checkpoint(
    checkpoint_dir: str, *, data: str | None = None, output_dir: str | None = None, review_policy: str | None = None
) -> dict:
    """Evaluate a checkpoint on its own stored test split, or on every row of another labelled file.

    The review numbers use ``review_policy`` (a YAML file) or else the policy given to training, with the
    novelty threshold ``build-repository`` sets at the default flag rate (every rule the server applies).
    """
    check_checkpoint(checkpoint_dir)
    config = load_config_snapshot(checkpoint_dir)
    labels = read_labels(checkpoint_dir)
    if review_policy:
        config.evaluation.review_policy = review_policy
        policy = checked_review_policy(config.evaluation, labels)
    else:
        policy = read_review_policy(checkpoint_dir)
    baseline = None
    if data is None:
        texts, rows_labels = read_split(checkpoint_dir, "test")
        split, source = "test", "the checkpoint's stored test split"
        baseline = json.loads((Path(checkpoint_dir) / METRICS_FILENAME).read_text()).get("baseline")
    else:
        evaluated = load_labeled_texts(data, config.data, DataReport())
        texts, rows_labels, split, source = evaluated.texts, evaluated.labels, f"all rows of {Path(data).name}", data
    targets = targets_for(rows_labels, labels, source)
    checkpoint = load_checkpoint(checkpoint_dir)
    features, logits = features_and_logits(checkpoint.model, checkpoint.tokenizer, texts)
    detector = load_detector(checkpoint_dir)
    policy = served_policy(policy, detector)  # as build-repository sets it at the default flag rate
    return write_evaluation(
        EvaluationInputs(
            title=f"{Path(data or config.data.path).name} ({config.model.encoder})",
            model=str(checkpoint.directory),
            data=data or config.data.path,
            split=split,
            labels=labels,
            temperature=checkpoint.temperature,
            texts=texts,
            logits=logits,
            targets=targets,
            novelty=None if detector is None else detector.score(features),
        ),
        config.evaluation,
        policy,
        Path(output_dir) if output_dir else checkpoint.directory / "evaluation",
        baseline=baseline,
    )
