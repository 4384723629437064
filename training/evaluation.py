"""Evaluation: metrics, calibration, the review trade-off, the baseline and the report folder.

Used at the end of training (on the test split) and by ``ticket-classifier evaluate`` (on the
checkpoint's own test split, or on any labelled file with the same columns).
"""

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ticket_classifier.config import load_section
from ticket_classifier.errors import TicketClassifierError
from ticket_classifier.runtime.review import ReviewPolicy
from ticket_classifier.training import report
from ticket_classifier.training.calibration import expected_calibration_error
from ticket_classifier.training.config import EvaluationConfig
from ticket_classifier.training.inference import softmax
from ticket_classifier.training.metrics import coverage_curve, evaluate_predictions

log = logging.getLogger(__name__)

EVALUATION_FILENAME = "evaluation.json"
REPORT_FILENAME = "report.md"


@dataclass
class EvaluationInputs:
    """One model's logits on an evaluated set, with what the report needs to describe it."""

    title: str
    model: str
    data: str
    split: str
    labels: list[str]
    temperature: float
    texts: list[str]
    logits: np.ndarray
    targets: np.ndarray
    novelty: np.ndarray | None = None  # the tickets' novelty scores, for the policy's unknown_category rule


def targets_for(labels_of_rows: list[str], labels: list[str], source: str) -> np.ndarray:
    """Label indices; a label the model does not know is an error naming it."""
    index = {label: position for position, label in enumerate(labels)}
    unknown = sorted(set(labels_of_rows) - set(index))
    if unknown:
        raise TicketClassifierError(
            f"{source} has labels the model was not trained on: {', '.join(unknown)} "
            f"(model labels: {', '.join(labels)})"
        )
    missing = sorted(set(labels) - set(labels_of_rows))
    if missing:
        log.warning("%s has no examples of: %s", source, ", ".join(missing))
    return np.array([index[label] for label in labels_of_rows])


def review_policy_for(config: EvaluationConfig) -> ReviewPolicy:
    """The review policy the report applies: ``evaluation.review_policy``'s file, else the built-in policy
    (the defaults of ``configs/production.yaml``); a deprecated ``review_threshold`` alone sets its threshold."""
    if config.review_policy:
        return load_section(ReviewPolicy, config.review_policy, "review")
    if config.review_threshold is not None:
        return ReviewPolicy(confidence_threshold=config.review_threshold)
    return ReviewPolicy()


def checked_review_policy(config: EvaluationConfig, labels: list[str]) -> ReviewPolicy:
    """:func:`review_policy_for`, refused (naming them) when it names categories ``labels`` lack."""
    policy = review_policy_for(config)
    try:
        policy.check_labels(labels)
    except ValueError as exc:
        raise TicketClassifierError(f"{config.review_policy or 'the built-in review policy'}: {exc}") from None
    return policy


def write_evaluation(
    inputs: EvaluationInputs,
    config: EvaluationConfig,
    policy: ReviewPolicy,
    output_dir: "str | Path",
    *,
    baseline: dict | None = None,
    extra_ece: dict | None = None,
    notes: list[str] | None = None,
) -> dict:
    """Compute every metric (review numbers under ``policy``), write plots, errors CSV, ``evaluation.json``
    and ``report.md``."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    uncalibrated = softmax(inputs.logits)
    calibrated = softmax(inputs.logits, inputs.temperature)
    test = evaluate_predictions(
        calibrated,
        inputs.targets,
        inputs.labels,
        critical_categories=config.critical_categories or sorted(policy.critical_categories),
        review_policy=policy,
        calibration_bins=config.calibration_bins,
        novelty=inputs.novelty,
    )
    curve = coverage_curve(calibrated, inputs.targets)
    ece = dict(extra_ece or {})
    ece[inputs.split] = {
        "before": expected_calibration_error(uncalibrated, inputs.targets, config.calibration_bins),
        "after": test["ece"],
    }
    report.plot_confusion_matrix(test["confusion_matrix"], inputs.labels, output_dir / "confusion_matrix.png")
    report.plot_reliability(
        uncalibrated, calibrated, inputs.targets, config.calibration_bins, output_dir / "reliability.png"
    )
    report.plot_coverage(curve, policy.confidence_threshold, output_dir / "coverage.png")
    errors = report.write_confident_errors(
        output_dir / "confident_errors.csv", inputs.texts, calibrated, inputs.targets, inputs.labels
    )
    summary = {
        "title": inputs.title,
        "model": inputs.model,
        "data": inputs.data,
        "split": inputs.split,
        "labels": inputs.labels,
        "test": test,
        "calibration": {"temperature": inputs.temperature, "ece": ece},
        "coverage_curve": curve,
        "baseline": baseline,
        "confident_errors": errors,
        "notes": notes or [],
    }
    (output_dir / EVALUATION_FILENAME).write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    report.write_markdown_report(output_dir / REPORT_FILENAME, summary)
    log.info("evaluation report written to %s", output_dir / REPORT_FILENAME)
    return summary


def summary_table(summary: dict) -> str:
    """A short plain-text table of the headline numbers."""
    test = summary["test"]
    rows = [("fine-tuned encoder", test["accuracy"], test["macro_f1"], test["ece"])]
    if summary.get("baseline"):
        baseline = summary["baseline"]
        rows.append((baseline["name"], baseline["accuracy"], baseline["macro_f1"], None))
    lines = [f"{'model':<34} {'accuracy':>9} {'macro-F1':>9} {'ECE':>7}"]
    lines += [
        f"{name:<34} {accuracy:>9.4f} {macro_f1:>9.4f} {report.cell(ece):>7}" for name, accuracy, macro_f1, ece in rows
    ]
    review = test["review"]
    lines.append(
        f"under the review policy: {review['coverage']:.1%} routed automatically at accuracy "
        f"{report.cell(review['accuracy'])}; {review['to_review']} of {test['examples']} to review"
    )
    return "\n".join(lines)
