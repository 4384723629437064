"""The model card of a served version: ``model_card.json`` and ``model_card.md`` beside ``model_info.json``.

What a service-desk owner needs to decide whether to trust a version: where its data came from
(file, SHA-256, rows, splits, date range), the encoder, its test metrics next to the TF-IDF
baseline, per-class and critical-category recall, calibration before and after, parity per
exported precision, the review policy it is served with and what that policy does on the test
split (computed here with the served ONNX model), the quality gate's outcome and training time.
"""

import json
from pathlib import Path

import numpy as np

from ticket_classifier.build.parity import onnx_outputs
from ticket_classifier.errors import TicketClassifierError
from ticket_classifier.labels import read_labels
from ticket_classifier.review_outcome import review_outcome
from ticket_classifier.runtime.contract import MODEL_CARD_JSON, MODEL_CARD_MARKDOWN, NOVELTY_SCORE, PROBABILITIES
from ticket_classifier.runtime.review import ReviewPolicy
from ticket_classifier.runtime.tokenization import TicketTokenizer
from ticket_classifier.training.checkpoint import METRICS_FILENAME, read_split
from ticket_classifier.training.report import cell

EVALUATION_PATH = Path("report") / "evaluation.json"  # written by training (ticket_classifier.training.evaluation)


def model_card(
    checkpoint_dir: Path, onnx_path: Path, build_report: dict, policy: ReviewPolicy, quality: dict, info: dict
) -> dict:
    """Everything the card states, as JSON-ready data."""
    metrics = json.loads((checkpoint_dir / METRICS_FILENAME).read_text(encoding="utf-8"))
    evaluation_path = checkpoint_dir / EVALUATION_PATH
    evaluation = json.loads(evaluation_path.read_text(encoding="utf-8")) if evaluation_path.is_file() else {}
    labels = read_labels(checkpoint_dir)
    texts, text_labels = read_split(checkpoint_dir, "test")
    index = {label: position for position, label in enumerate(labels)}
    unknown = sorted(set(text_labels) - set(index))
    if unknown:
        raise TicketClassifierError(f"the stored test split has labels the model lacks: {', '.join(unknown)}")
    probabilities, novelty = onnx_outputs(
        onnx_path, TicketTokenizer.from_directory(checkpoint_dir), texts, [PROBABILITIES, NOVELTY_SCORE]
    )
    targets = np.array([index[label] for label in text_labels])
    test = evaluation.get("test", {})
    return {
        "model_version": info["model_version"],
        "built_at": info["built_at"],
        "precision": info["precision"],
        "encoder": metrics.get("encoder") or evaluation.get("title", ""),
        "labels": labels,
        "data": metrics.get("provenance"),
        "test": metrics["test"],
        "baseline": metrics.get("baseline")
        and {key: metrics["baseline"][key] for key in ("name", "accuracy", "macro_f1")},
        "per_class": test.get("per_class", {}),
        "critical_recall": test.get("critical_recall", {}),
        "calibration": {
            "temperature": metrics.get("temperature"),
            "choice": metrics.get("calibration"),
            "validation_ece": metrics.get("validation_ece"),
            "test_ece": (evaluation.get("calibration") or {}).get("ece", {}).get("test"),
        },
        "parity": [
            {
                key: variant.get(key)
                for key in (
                    "precision",
                    "top1_agreement",
                    "mean_probability_difference",
                    "review_agreement",
                    "max_probability_difference",
                    "passed",
                )
            }
            for variant in build_report["variants"]
        ],
        "review": review_outcome(probabilities, targets, labels, policy, novelty),
        "novelty": {
            "detector": metrics.get("novelty"),
            "threshold": policy.novelty_threshold,
            "test_in_scope_flagged": None
            if policy.novelty_threshold is None
            else round(float(np.mean(novelty.reshape(-1) > policy.novelty_threshold)), 4),
        },
        "quality_gate": quality,
        "distillation": metrics.get("distillation"),
        "training_seconds": metrics.get("training_seconds"),
    }


def write_model_card(folder: Path, card: dict) -> Path:
    """Write the card as JSON and Markdown into ``folder``; returns the Markdown file."""
    (folder / MODEL_CARD_JSON).write_text(json.dumps(card, indent=1) + "\n", encoding="utf-8")
    path = folder / MODEL_CARD_MARKDOWN
    path.write_text(_markdown(card), encoding="utf-8")
    return path


def _markdown(card: dict) -> str:
    """The card for people."""
    test, baseline, review, gate = card["test"], card["baseline"], card["review"], card["quality_gate"]
    data = card["data"] or {}
    lines = [f"# Model card: {card['model_version']}", ""]
    lines += [f"Built {card['built_at']}, {card['precision']} ONNX, {len(card['labels'])} categories.", ""]
    lines += ["## Data", ""]
    for file in data.get("files", []):
        lines.append(f"- `{file['path']}` (SHA-256 `{file['sha256'][:16]}...`)")
    if data:
        lines.append(f"- text columns {', '.join(data['text_columns'])}; label column {data['label_column']}")
        lines.append(f"- {data['rows_read']} rows read; {data['split']} split: {data['rows']}")
        if data.get("date_range"):
            lines.append(f"- tickets from {data['date_range'][0]} to {data['date_range'][1]}")
    lines += ["", "## Quality (test split)", "", "| model | accuracy | macro-F1 |", "| --- | --- | --- |"]
    name = "distilled student" if card.get("distillation") else "fine-tuned encoder"
    lines.append(f"| {name} | {test['accuracy']:.4f} | {test['macro_f1']:.4f} |")
    if baseline:
        lines.append(f"| {baseline['name']} | {baseline['accuracy']:.4f} | {baseline['macro_f1']:.4f} |")
    student = card.get("distillation")
    if student:
        kept = student["teacher_layers_kept"]
        origin = f"teacher layers {kept}" if kept else "the teacher's word embeddings"
        lines += [
            "",
            f"Distilled student `{student['student']}`: {origin}, {student['parameters']:,} of the teacher's "
            f"{student['teacher_parameters']:,} parameters; teacher `{student['teacher']}` (test macro-F1 "
            f"{cell(student['teacher_test_macro_f1'])}), temperature {student['temperature']}, "
            f"alpha {student['alpha']}.",
        ]
    verdict = "passed" if gate["passed"] else "BELOW: served only because --allow-below-baseline was given"
    lines += [
        "",
        f"Quality gate: {verdict}" + (f" ({'; '.join(gate['shortfalls'])})" if gate["shortfalls"] else "") + ".",
    ]
    if card["critical_recall"]:
        recalls = ", ".join(f"{label} {value:.3f}" for label, value in card["critical_recall"].items())
        lines.append(f"Critical-category recall: {recalls}.")
    if card["per_class"]:
        lines += ["", "| category | precision | recall | F1 | support |", "| --- | --- | --- | --- | --- |"]
        for label, values in card["per_class"].items():
            scores = " | ".join(f"{values[key]:.3f}" for key in ("precision", "recall", "f1"))
            lines.append(f"| {label} | {scores} | {values['support']} |")
    calibration = card["calibration"]
    choice = (calibration.get("choice") or {}).get("reason", f"temperature {calibration['temperature']}")
    lines += ["", "## Calibration", "", f"- {choice}"]
    if calibration.get("validation_ece"):
        ece = calibration["validation_ece"]
        lines.append(f"- validation ECE {ece['before']:.4f} before, {ece['after']:.4f} after")
    lines += ["", "## Parity of the exported precisions", ""]
    lines += ["| precision | top-1 agreement | mean prob. difference | review agreement | passed |"]
    lines.append("| --- | --- | --- | --- | --- |")
    for variant in card["parity"]:
        agreement, difference = variant["top1_agreement"], variant["mean_probability_difference"]
        lines.append(
            f"| {variant['precision']} | {agreement:.4f} | {difference:.2e} | {variant['review_agreement']:.4f} "
            f"| {variant['passed']} |"
        )
    novelty = card["novelty"]
    lines += ["", "## Unknown categories", ""]
    if novelty["threshold"] is None:
        lines.append("- No novelty detector (trained before they existed): the unknown_category rule is off.")
    else:
        detector = novelty["detector"] or {}
        lines.append(
            f"- {detector.get('detector', 'mahalanobis')} distance on {detector.get('features', '?')} features; "
            f"threshold {novelty['threshold']:.2f} flags {novelty['test_in_scope_flagged']:.1%} of the test split "
            "(known categories) as unknown_category"
        )
    policy = review["policy"]
    lines += ["", "## Review policy served", "", f"```json\n{json.dumps(policy, indent=1)}\n```", ""]
    lines.append(
        f"On the test split, {review['coverage']:.1%} of tickets are routed automatically with accuracy "
        f"{review['accuracy']:.4f}; {review['to_review']} go to a person (rules: {review['by_rule'] or 'none'})."
    )
    if card.get("training_seconds"):
        lines += ["", f"Training took {card['training_seconds'] / 60:.1f} minutes."]
    return "\n".join(lines) + "\n"
