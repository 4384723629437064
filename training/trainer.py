"""Fine-tuning loop: AdamW with linear warm-up and decay, best checkpoint by validation macro-F1."""

import copy
import logging
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ticket_classifier.tokenization import TicketTokenizer
from ticket_classifier.training.checkpoint import save_checkpoint
from ticket_classifier.training.config import TrainingConfig
from ticket_classifier.training.data import DatasetSplits, label_counts, load_labeled_texts, split_dataset
from ticket_classifier.training.encoder import load_classifier, load_ticket_tokenizer
from ticket_classifier.training.inference import predict_logits
from ticket_classifier.training.metrics import summary_from_logits

log = logging.getLogger(__name__)


@dataclass
class TrainingResult:
    """What a training run produced."""

    checkpoint_dir: Path
    metrics: dict[str, object]


def set_seed(seed: int) -> None:
    """Seed Python, numpy and torch."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def train(config: TrainingConfig, *, show_progress: bool = True) -> TrainingResult:
    """Train on ``config.data``, keep the best epoch and write the checkpoint to ``config.output_dir``."""
    started = time.monotonic()
    set_seed(config.optimization.seed)
    splits = split_dataset(load_labeled_texts(config.data), config.data, config.optimization.seed)
    labels = sorted(set(splits.train.labels) | set(splits.validation.labels) | set(splits.test.labels))
    log.info("labels (train counts): %s", label_counts(splits.train.labels))
    model = load_classifier(config.model.encoder, labels)
    tokenizer = load_ticket_tokenizer(
        config.model.encoder, model, max_length=config.model.max_length, length_buckets=config.model.length_buckets
    )
    label_index = {label: index for index, label in enumerate(labels)}
    history = _fit(model, tokenizer, splits, label_index, config, show_progress)
    test_logits = predict_logits(model, tokenizer, splits.test.texts)
    metrics = {
        "labels": labels,
        "rows": {name: len(getattr(splits, name)) for name in ("train", "validation", "test")},
        "history": history,
        "best_epoch": max(history, key=lambda entry: entry["validation"]["macro_f1"])["epoch"],
        "test": summary_from_logits(test_logits, [label_index[label] for label in splits.test.labels]),
        "training_seconds": round(time.monotonic() - started, 1),
    }
    directory = save_checkpoint(
        config.output_dir,
        model=model,
        tokenizer=tokenizer,
        labels=labels,
        temperature=1.0,
        config=config,
        metrics=metrics,
    )
    log.info("test accuracy %.3f, macro-F1 %.3f", metrics["test"]["accuracy"], metrics["test"]["macro_f1"])
    return TrainingResult(checkpoint_dir=directory, metrics=metrics)


def _fit(
    model,
    tokenizer: TicketTokenizer,
    splits: DatasetSplits,
    label_index: dict[str, int],
    config: TrainingConfig,
    show_progress: bool,
) -> list[dict[str, object]]:
    """Run the epochs; leave the model holding the weights of the best validation macro-F1."""
    optimization = config.optimization
    train_targets = np.array([label_index[label] for label in splits.train.labels])
    validation_targets = [label_index[label] for label in splits.validation.labels]
    steps_per_epoch = int(np.ceil(len(splits.train) / optimization.batch_size))
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=optimization.learning_rate, weight_decay=optimization.weight_decay
    )
    scheduler = _linear_schedule(optimizer, steps_per_epoch * optimization.epochs, optimization.warmup_ratio)
    generator = np.random.default_rng(optimization.seed)
    history, best_f1, best_state = [], -1.0, None
    for epoch in range(1, optimization.epochs + 1):
        model.train()
        order = generator.permutation(len(splits.train))
        bar = tqdm(range(steps_per_epoch), desc=f"epoch {epoch}/{optimization.epochs}", disable=not show_progress)
        losses = []
        for step in bar:
            rows = order[step * optimization.batch_size : (step + 1) * optimization.batch_size]
            loss = _train_step(model, tokenizer, [splits.train.texts[i] for i in rows], train_targets[rows])
            torch.nn.utils.clip_grad_norm_(model.parameters(), optimization.max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            losses.append(loss)
            bar.set_postfix(loss=f"{np.mean(losses[-20:]):.3f}")
        validation = summary_from_logits(predict_logits(model, tokenizer, splits.validation.texts), validation_targets)
        history.append({"epoch": epoch, "train_loss": float(np.mean(losses)), "validation": validation})
        log.info("epoch %d: loss %.4f, validation macro-F1 %.4f", epoch, np.mean(losses), validation["macro_f1"])
        if validation["macro_f1"] > best_f1:
            best_f1, best_state = validation["macro_f1"], copy.deepcopy(model.state_dict())
    model.load_state_dict(best_state)
    model.eval()
    return history


def _train_step(model, tokenizer: TicketTokenizer, texts: Sequence[str], targets: np.ndarray) -> float:
    """Forward and backward pass on one batch (padded to its longest text); returns the loss."""
    inputs = {name: torch.from_numpy(array) for name, array in tokenizer.encode(texts, bucketed=False).items()}
    logits = model(**inputs).logits
    loss = torch.nn.functional.cross_entropy(logits, torch.from_numpy(targets))
    loss.backward()
    return float(loss.detach())


def _linear_schedule(optimizer, total_steps: int, warmup_ratio: float) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up to the base rate, then linear decay to zero."""
    warmup = max(1, int(total_steps * warmup_ratio))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def train_from_config_file(
    path: str, *, data: str | None = None, output_dir: str | None = None, show_progress: bool = True
) -> TrainingResult:
    """Load the YAML config at ``path``, apply command-line overrides and train."""
    from ticket_classifier.training.config import load_training_config

    config = load_training_config(path)
    if data:
        config.data.path = data
    if output_dir:
        config.output_dir = output_dir
    return train(config, show_progress=show_progress)
