"""``ticket-classifier train`` and ``evaluate``: data -> fine-tuning -> calibration -> checkpoint -> report."""

import logging
import resource
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ticket_classifier.errors import TicketClassifierError
from ticket_classifier.labels import read_labels
from ticket_classifier.training.baseline import tfidf_svm_baseline
from ticket_classifier.training.calibration import expected_calibration_error, fit_temperature
from ticket_classifier.training.checkpoint import (
    check_checkpoint,
    load_checkpoint,
    load_config_snapshot,
    save_checkpoint,
)
from ticket_classifier.training.config import TrainingConfig, load_training_config
from ticket_classifier.training.data import DataReport, load_labeled_texts, prepare_splits
from ticket_classifier.training.encoder import load_classifier, load_ticket_tokenizer
from ticket_classifier.training.evaluation import EvaluationInputs, targets_for, write_evaluation
from ticket_classifier.training.freezing import freeze
from ticket_classifier.training.inference import predict_logits, softmax
from ticket_classifier.training.losses import make_loss
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
    """
    output_dir = Path(config.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    with run_log(output_dir / RUN_LOG_FILENAME):
        return _train(config, resume=resume, max_steps=max_steps, wandb=wandb, show_progress=show_progress)


def _train(config: TrainingConfig, *, resume: bool, max_steps, wandb: bool, show_progress: bool) -> TrainingResult:
    started = time.monotonic()
    optimization = config.optimization
    wandb_run = _start_wandb(config) if wandb else None
    set_seed(optimization.seed)  # before the new classification head is initialised
    splits = prepare_splits(config.data, optimization.seed)
    model = load_classifier(config.model.encoder, splits.labels)
    tokenizer = load_ticket_tokenizer(
        config.model.encoder, model, max_length=config.model.max_length, length_buckets=config.model.length_buckets
    )
    if config.model.freeze_embeddings or config.model.freeze_layers:
        frozen = freeze(model, embeddings=config.model.freeze_embeddings, layers=config.model.freeze_layers)
        log.info("froze %d of %d parameters", frozen, sum(p.numel() for p in model.parameters()))
    loss_fn = make_loss(optimization, splits.labels, splits.train.labels)
    trainer = Trainer(model, tokenizer, splits, loss_fn, config)
    trainer.wandb_run = wandb_run
    state = trainer.fit(resume=resume, max_steps=max_steps, show_progress=show_progress)
    if state.paused:
        return TrainingResult(Path(config.output_dir), {"global_step": state.global_step}, {}, completed=False)
    model = trainer.model.cpu()

    validation_logits = predict_logits(model, tokenizer, splits.validation.texts)
    validation_targets = targets_for(splits.validation.labels, splits.labels, "validation split")
    temperature = fit_temperature(validation_logits, validation_targets)
    bins = config.evaluation.calibration_bins
    validation_ece = {
        "before": expected_calibration_error(softmax(validation_logits), validation_targets, bins),
        "after": expected_calibration_error(softmax(validation_logits, temperature), validation_targets, bins),
    }
    log.info("temperature %.4f; validation ECE %.4f -> %.4f", temperature, *validation_ece.values())
    from ticket_classifier.drift_reference import drift_reference

    reference = drift_reference(
        softmax(validation_logits, temperature), splits.labels, f"validation split of {config.data.path}"
    )
    test_logits = predict_logits(model, tokenizer, splits.test.texts)
    baseline = (
        tfidf_svm_baseline(splits.train, splits.test, splits.labels, seed=optimization.seed)
        if config.evaluation.baseline
        else None
    )
    directory = Path(config.output_dir)
    evaluation = write_evaluation(
        EvaluationInputs(
            title=f"{Path(config.data.path).name} ({config.model.encoder})",
            model=config.model.encoder,
            data=", ".join(splits.report.files),
            split="test",
            labels=splits.labels,
            temperature=temperature,
            texts=splits.test.texts,
            logits=test_logits,
            targets=targets_for(splits.test.labels, splits.labels, "test split"),
        ),
        config.evaluation,
        directory / REPORT_DIRNAME,
        baseline=baseline,
        extra_ece={"validation": validation_ece},
        notes=[f"- Data: {splits.report.split}; {_counts_sentence(splits.report.as_dict())}"],
    )
    metrics = {
        "labels": splits.labels,
        "data": splits.report.as_dict(),
        "history": state.history,
        "best_epoch": state.best_epoch,
        "stopped_early": state.stopped_early,
        "temperature": temperature,
        "validation_ece": validation_ece,
        "test": {key: evaluation["test"][key] for key in ("accuracy", "macro_f1", "weighted_f1", "ece")},
        "baseline": None if baseline is None else {key: baseline[key] for key in ("accuracy", "macro_f1")},
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
    )
    if trainer.wandb_run is not None:
        trainer.wandb_run.summary.update(metrics["test"])
        trainer.wandb_run.finish()
    return TrainingResult(checkpoint_dir=directory, metrics=metrics, evaluation=evaluation)


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


def train_from_config_file(
    path: str,
    *,
    data: str | None = None,
    output_dir: str | None = None,
    resume: bool = False,
    max_steps: int | None = None,
    wandb: bool = False,
    show_progress: bool = True,
) -> TrainingResult:
    """Load the YAML config at ``path``, apply command-line overrides and train."""
    config = load_training_config(path)
    if data:
        config.data.path = data
    if output_dir:
        config.output_dir = output_dir
    return train(config, resume=resume, max_steps=max_steps, wandb=wandb, show_progress=show_progress)


def evaluate_checkpoint(
    checkpoint_dir: str, *, data: str | None = None, output_dir: str | None = None, review_threshold=None
) -> dict:
    """Evaluate a checkpoint on its own test split, or on every row of another labelled file."""
    check_checkpoint(checkpoint_dir)
    config = load_config_snapshot(checkpoint_dir)
    labels = read_labels(checkpoint_dir)
    if review_threshold is not None:
        config.evaluation.review_threshold = review_threshold
    baseline = None
    if data is None:
        splits = prepare_splits(config.data, config.optimization.seed)
        if splits.labels != labels:
            raise TicketClassifierError(
                f"the labels of {config.data.path} ({', '.join(splits.labels)}) differ from the checkpoint's "
                f"({', '.join(labels)})"
            )
        evaluated, split = splits.test, "test"
        if config.evaluation.baseline:
            baseline = tfidf_svm_baseline(splits.train, splits.test, splits.labels, seed=config.optimization.seed)
    else:
        evaluated, split = load_labeled_texts(data, config.data, DataReport()), f"all rows of {Path(data).name}"
    targets = targets_for(evaluated.labels, labels, data or "test split")
    checkpoint = load_checkpoint(checkpoint_dir)
    logits = predict_logits(checkpoint.model, checkpoint.tokenizer, evaluated.texts)
    return write_evaluation(
        EvaluationInputs(
            title=f"{Path(data or config.data.path).name} ({config.model.encoder})",
            model=str(checkpoint.directory),
            data=data or config.data.path,
            split=split,
            labels=labels,
            temperature=checkpoint.temperature,
            texts=evaluated.texts,
            logits=logits,
            targets=targets,
        ),
        config.evaluation,
        Path(output_dir) if output_dir else checkpoint.directory / "evaluation",
        baseline=baseline,
    )
