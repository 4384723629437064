"""The evaluation report: plots (PNG), the most confident errors (CSV) and one Markdown page."""

import csv
import math
from pathlib import Path

import numpy as np

from ticket_classifier.training.calibration import reliability_bins


def _pyplot():
    """matplotlib's pyplot on the file-only Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


# Above this many classes a full matrix is unreadable: the plot shows the classes with the most
# test examples, and the report lists the most confused pairs of all classes.
MATRIX_CLASSES = 20


def plot_confusion_matrix(matrix: list[list[int]], labels: list[str], path: Path) -> Path:
    """Row-normalised confusion matrix with counts; for many classes, of the ``MATRIX_CLASSES`` largest."""
    plt = _pyplot()
    counts = np.array(matrix, dtype=float)
    shown = np.argsort(-counts.sum(axis=1), kind="stable")[:MATRIX_CLASSES]
    shown.sort()
    counts = counts[np.ix_(shown, shown)]
    names = [labels[i] for i in shown]
    normalised = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    size = max(5.0, 0.5 * len(names) + 2.5)
    figure, axes = plt.subplots(figsize=(size, size * 0.85))
    image = axes.imshow(normalised, cmap="Blues", vmin=0, vmax=1)
    axes.set_xticks(range(len(names)), names, rotation=45, ha="right")
    axes.set_yticks(range(len(names)), names)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    for row in range(len(names)):
        for column in range(len(names)):
            colour = "white" if normalised[row, column] > 0.5 else "black"
            axes.text(column, row, int(counts[row, column]), ha="center", va="center", color=colour, fontsize=8)
    figure.colorbar(image, ax=axes, fraction=0.046, label="share of the true class")
    title = "Confusion matrix (test)"
    if len(labels) > MATRIX_CLASSES:
        title += f": the {MATRIX_CLASSES} largest of {len(labels)} classes"
    axes.set_title(title)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def most_confused_pairs(matrix: list[list[int]], labels: list[str], count: int = 15) -> list[dict]:
    """The off-diagonal cells with the most tickets: true class, predicted class, tickets, share of the true class."""
    counts = np.array(matrix)
    totals = np.maximum(counts.sum(axis=1), 1)
    cells = [
        (int(counts[row, column]), row, column)
        for row in range(len(labels))
        for column in range(len(labels))
        if row != column and counts[row, column] > 0
    ]
    cells.sort(key=lambda cell: (-cell[0], cell[1], cell[2]))
    return [
        {"true": labels[row], "predicted": labels[column], "tickets": tickets, "share": tickets / totals[row]}
        for tickets, row, column in cells[:count]
    ]


def plot_reliability(uncalibrated: np.ndarray, calibrated: np.ndarray, targets: np.ndarray, bins: int, path: Path):
    """Reliability diagram before and after temperature scaling."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(5.5, 5))
    axes.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect calibration")
    for probabilities, name, marker in ((uncalibrated, "before scaling", "o"), (calibrated, "after scaling", "s")):
        table = reliability_bins(probabilities, targets, bins)
        filled = table["counts"] > 0
        axes.plot(table["confidence"][filled], table["accuracy"][filled], marker=marker, label=name)
    axes.set_xlabel("confidence (top-1 probability)")
    axes.set_ylabel("accuracy")
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1)
    axes.legend(loc="upper left")
    axes.set_title(f"Reliability diagram (test, {bins} bins)")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def plot_coverage(curve: list[dict], threshold: float, path: Path) -> Path:
    """Share routed automatically and their accuracy, over review thresholds."""
    plt = _pyplot()
    thresholds = [point["threshold"] for point in curve]
    figure, axes = plt.subplots(figsize=(6, 4.2))
    axes.plot(thresholds, [point["coverage"] for point in curve], label="routed automatically (coverage)")
    axes.plot(thresholds, [point["accuracy"] for point in curve], label="accuracy of routed tickets")
    axes.axvline(threshold, color="grey", linestyle="--", label=f"review threshold {threshold:.2f}")
    axes.set_xlabel("confidence threshold")
    axes.set_ylim(0, 1.02)
    axes.legend(loc="lower left")
    axes.set_title("Coverage / accuracy trade-off (test)")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def write_confident_errors(
    path: Path, texts: list[str], probabilities: np.ndarray, targets: np.ndarray, labels: list[str], limit: int = 100
) -> int:
    """The wrong predictions made with the highest confidence, as CSV; returns how many were written."""
    predicted = probabilities.argmax(axis=1)
    wrong = np.flatnonzero(predicted != targets)
    wrong = wrong[np.argsort(-probabilities[wrong, predicted[wrong]], kind="stable")][:limit]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["confidence", "predicted", "true", "true_label_probability", "text"])
        for row in wrong:
            writer.writerow(
                [
                    f"{probabilities[row, predicted[row]]:.4f}",
                    labels[predicted[row]],
                    labels[targets[row]],
                    f"{probabilities[row, targets[row]]:.4f}",
                    texts[row],
                ]
            )
    return len(wrong)


def cell(value: float | None) -> str:
    """A metric for a table cell."""
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.4f}"


def _policy_sentence(policy: dict) -> str:
    """A review policy in words."""
    parts = [f"confidence below {policy['confidence_threshold']:.2f}", f"margin below {policy['margin_threshold']:.2f}"]
    if policy["category_thresholds"]:
        parts.append(
            "category thresholds " + ", ".join(f"{k} {v:.2f}" for k, v in policy["category_thresholds"].items())
        )
    if policy["critical_categories"]:
        parts.append("critical " + ", ".join(f"{k} from {v:.2f}" for k, v in policy["critical_categories"].items()))
    if policy["novelty_threshold"] is not None:
        parts.append(f"unknown category above novelty {policy['novelty_threshold']:.2f}")
    return "; ".join(parts)


def write_markdown_report(path: Path, summary: dict) -> Path:
    """One Markdown page with every number and plot of the evaluation."""
    test, baseline, calibration = summary["test"], summary.get("baseline"), summary["calibration"]
    lines = [
        f"# Evaluation report: {summary['title']}",
        "",
        f"Model: `{summary['model']}`; data: {summary['data']}; evaluated on {test['examples']} tickets "
        f"({summary['split']}).",
        "",
        "## Headline",
        "",
        "| model | accuracy | macro-F1 | weighted F1 | ECE |",
        "| --- | --- | --- | --- | --- |",
        f"| fine-tuned encoder (temperature {calibration['temperature']:.3f}) | {cell(test['accuracy'])} | "
        f"{cell(test['macro_f1'])} | {cell(test['weighted_f1'])} | {cell(test['ece'])} |",
    ]
    if baseline:
        lines.append(
            f"| {baseline['name']} | {cell(baseline['accuracy'])} | {cell(baseline['macro_f1'])} | "
            f"{cell(baseline['weighted_f1'])} | n/a |"
        )
    review = test["review"]
    lines += [
        "",
        "## Calibration",
        "",
        f"Temperature scaling fitted on the validation logits (NLL, LBFGS): T = {calibration['temperature']:.4f}.",
        "",
        "| split | ECE before | ECE after |",
        "| --- | --- | --- |",
    ]
    lines += [
        f"| {name} | {cell(values['before'])} | {cell(values['after'])} |"
        for name, values in calibration["ece"].items()
    ]
    lines += [
        "",
        "![reliability diagram](reliability.png)",
        "",
        "## Review",
        "",
        f"Under the review policy the server applies ({_policy_sentence(review['policy'])}), "
        f"{review['coverage']:.1%} of tickets are routed automatically ({review['routed']} of {test['examples']}) "
        f"with accuracy {cell(review['accuracy'])}; {review['to_review']} go to review "
        f"(rules that fired: {', '.join(f'{rule} {count}' for rule, count in review['by_rule'].items()) or 'none'}).",
        "",
        "![coverage curve](coverage.png)",
        "",
        "## Per class",
        "",
        "| category | precision | recall | F1 | support | baseline F1 |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for label, values in test["per_class"].items():
        baseline_f1 = cell(baseline["per_class"][label]["f1"]) if baseline else "n/a"
        lines.append(
            f"| {label} | {cell(values['precision'])} | {cell(values['recall'])} | {cell(values['f1'])} | "
            f"{values['support']} | {baseline_f1} |"
        )
    if test["critical_recall"]:
        lines += ["", "## Critical categories", "", "| category | recall |", "| --- | --- |"]
        lines += [f"| {label} | {cell(recall)} |" for label, recall in test["critical_recall"].items()]
    pairs = most_confused_pairs(test["confusion_matrix"], summary["labels"])
    lines += ["", "## Errors", "", "![confusion matrix](confusion_matrix.png)", ""]
    if pairs:
        lines += [
            "Most confused pairs:",
            "",
            "| true | predicted as | tickets | share of true |",
            "| --- | --- | --- | --- |",
        ]
        lines += [f"| {p['true']} | {p['predicted']} | {p['tickets']} | {p['share']:.1%} |" for p in pairs]
        lines.append("")
    lines += [
        f"The {summary['confident_errors']} most confident errors are in [confident_errors.csv](confident_errors.csv).",
        "",
    ]
    if summary.get("notes"):
        lines += ["## Notes", "", *summary["notes"], ""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
