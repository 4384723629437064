"""Novelty detection measured without peeking: retrain with some categories held out, and treat
their tickets as the unknown ones.

``ticket-classifier evaluate --held-out-classes K --config C``: K labels are chosen at random
(seeded), their rows left out of training (``data.exclude_labels``), the model is trained as
``train`` would, and then each novelty score of :mod:`ticket_classifier.training.novelty` gets its
threshold from the validation split at the flag rate and is measured on the test split (in-scope
tickets wrongly flagged) and on the held-out labels' tickets (unknown tickets caught), with AUROC.
"""

import json
import logging
from dataclasses import replace
from pathlib import Path

import numpy as np

from ticket_classifier.errors import TicketClassifierError
from ticket_classifier.training.checkpoint import load_checkpoint
from ticket_classifier.training.config import TrainingConfig
from ticket_classifier.training.data import DataReport, check_label_counts, load_labeled_texts, prepare_splits
from ticket_classifier.training.inference import softmax
from ticket_classifier.training.novelty import (
    SCORES,
    KnnScorer,
    MahalanobisDetector,
    auroc,
    check_flag_rate,
    energy_score,
    features_and_logits,
    max_logit_score,
    softmax_score,
    threshold_at,
)

log = logging.getLogger(__name__)

MAX_UNKNOWN_TICKETS = 2000
RESULT_FILENAME = "novelty_evaluation.json"
TABLE_FILENAME = "novelty_evaluation.md"


def choose_held_out(labels: list[str], count: int, seed: int) -> list[str]:
    """``count`` of ``labels``, chosen at random with ``seed`` (sorted); at least 2 labels must remain."""
    if not 1 <= count <= len(labels) - 2:
        raise TicketClassifierError(
            f"--held-out-classes must be between 1 and {len(labels) - 2} for {len(labels)} labels, got {count}"
        )
    return sorted(np.random.default_rng(seed).choice(sorted(labels), count, replace=False).tolist())


def held_out_evaluation(
    config: TrainingConfig, *, held_out: int, seed: int, flag_rate: float, output_dir: "str | Path", train
) -> dict:
    """Train without ``held_out`` labels in ``output_dir/checkpoint`` (``train`` is the training
    pipeline's function) and measure every novelty score; writes the JSON and a Markdown table."""
    check_flag_rate(flag_rate)
    output_dir = Path(output_dir)
    everything = check_label_counts(
        load_labeled_texts(config.data.path, config.data, DataReport()), config.data, DataReport()
    )
    chosen = choose_held_out(sorted(set(everything.labels)), held_out, seed)
    log.info("held-out labels (seed %d): %s", seed, ", ".join(chosen))
    config = replace(
        config, data=replace(config.data, exclude_labels=chosen), output_dir=str(output_dir / "checkpoint")
    )
    result = train(config)
    checkpoint = load_checkpoint(result.checkpoint_dir)
    splits = prepare_splits(config.data, config.optimization.seed)
    unknown = _unknown_texts(config, chosen, seed)

    def encode(texts):
        return features_and_logits(checkpoint.model, checkpoint.tokenizer, texts)

    train_features, train_logits = encode(splits.train.texts)
    sets = {
        "validation": encode(splits.validation.texts),
        "test": encode(splits.test.texts),
        "unknown": encode(unknown),
    }
    index = {label: i for i, label in enumerate(splits.labels)}
    train_targets = np.array([index[label] for label in splits.train.labels])
    mahalanobis = MahalanobisDetector.fit(train_features, train_targets, len(splits.labels))
    knn = KnnScorer(train_features)
    scorers = {
        "softmax": lambda f, z: softmax_score(softmax(z, checkpoint.temperature)),
        "max_logit": lambda f, z: max_logit_score(z),
        "energy": lambda f, z: energy_score(z),
        "mahalanobis": lambda f, z: mahalanobis.score(f),
        "knn": lambda f, z: knn.score(f),
    }
    test_logits = sets["test"][1]
    accuracy = float(np.mean(test_logits.argmax(axis=1) == np.array([index[label] for label in splits.test.labels])))
    rows = {}
    for name in SCORES:
        scores = {part: scorers[name](*arrays) for part, arrays in sets.items()}
        threshold = threshold_at(scores["validation"], flag_rate)
        rows[name] = {
            "in_scope_flagged": round(float(np.mean(scores["test"] > threshold)), 4),
            "unknown_flagged": round(float(np.mean(scores["unknown"] > threshold)), 4),
            "auroc": round(auroc(scores["test"], scores["unknown"]), 4),
            "threshold": threshold,
        }
    evaluation = {
        "data": config.data.path,
        "held_out_labels": chosen,
        "held_out_seed": seed,
        "flag_rate": flag_rate,
        "in_scope_labels": len(splits.labels),
        "tickets": {"test_in_scope": len(splits.test), "unknown": len(unknown)},
        "in_scope_test_accuracy": round(accuracy, 4),
        "training_seconds": result.metrics.get("training_seconds"),
        "scores": rows,
    }
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / RESULT_FILENAME).write_text(json.dumps(evaluation, indent=2) + "\n")
    (output_dir / TABLE_FILENAME).write_text(format_table(evaluation))
    return evaluation


def _unknown_texts(config: TrainingConfig, chosen: list[str], seed: int) -> list[str]:
    """The held-out labels' tickets of the test file (or of the data file without one), at most
    :data:`MAX_UNKNOWN_TICKETS`, sampled with ``seed``."""
    source = config.data.test_path or config.data.path
    loaded = load_labeled_texts(source, replace(config.data, exclude_labels=[]), DataReport())
    texts = [text for text, label in zip(loaded.texts, loaded.labels) if label in set(chosen)]
    if len(texts) > MAX_UNKNOWN_TICKETS:
        picked = np.random.default_rng(seed).choice(len(texts), MAX_UNKNOWN_TICKETS, replace=False)
        texts = [texts[i] for i in sorted(picked)]
    return texts


def format_table(evaluation: dict) -> str:
    """The evaluation as a Markdown table, one row per score."""
    percent = f"{evaluation['flag_rate']:.0%}"
    lines = [
        f"Held out: {', '.join(evaluation['held_out_labels'])} (seed {evaluation['held_out_seed']}); "
        f"{evaluation['tickets']['test_in_scope']} in-scope test tickets, {evaluation['tickets']['unknown']} unknown; "
        f"in-scope accuracy {evaluation['in_scope_test_accuracy']:.4f}; thresholds at {percent} of validation flagged.",
        "",
        "| score | in-scope flagged | unknown flagged | AUROC |",
        "| --- | ---: | ---: | ---: |",
    ]
    for name, row in evaluation["scores"].items():
        lines.append(f"| {name} | {row['in_scope_flagged']:.1%} | {row['unknown_flagged']:.1%} | {row['auroc']:.3f} |")
    return "\n".join(lines) + "\n"
