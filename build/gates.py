"""What ``build-repository`` refuses to serve: a precision that failed its parity gate, and a model below its baseline.

A model whose test macro-F1 is below the TF-IDF baseline trained on the same split (or below
``repository.min_macro_f1``) is worse than a keyword model: serving it would route tickets
wrongly with confidence. The gate refuses it unless ``--allow-below-baseline`` is given; the
model card records the outcome either way.
"""

import dataclasses
import json
import logging
from pathlib import Path

from ticket_classifier.build.layout import onnx_filename
from ticket_classifier.build.model_configs import AUTO_PRECISIONS
from ticket_classifier.build.parity import Gate
from ticket_classifier.errors import TicketClassifierError
from ticket_classifier.runtime.contract import BUILD_REPORT_FILENAME, CLASSIFIER_OUTPUTS
from ticket_classifier.training.checkpoint import METRICS_FILENAME

log = logging.getLogger(__name__)


def resolve_precision(onnx_dir: Path, precision: str, device: str) -> str:
    """``precision`` itself, or for ``auto`` the first of :data:`AUTO_PRECISIONS` of the ``device`` that was
    exported and passed its parity gate."""
    if precision != "auto":
        return precision
    report_path = Path(onnx_dir) / BUILD_REPORT_FILENAME
    passed = set()
    if report_path.is_file():
        report = json.loads(report_path.read_text(encoding="utf-8"))
        passed = {entry["precision"] for entry in report["variants"] if entry.get("passed")}
    for candidate in AUTO_PRECISIONS[device]:
        if candidate in passed:
            return candidate
    return AUTO_PRECISIONS[device][-1]  # servable_onnx then says why it is not servable


def servable_onnx(onnx_dir: Path, precision: str) -> tuple[Path, dict]:
    """The exported model of ``precision`` and its parity result, if it passed its gate; else a clear error."""
    report_path = Path(onnx_dir) / BUILD_REPORT_FILENAME
    if not report_path.is_file():
        raise TicketClassifierError(
            f"{report_path} is missing: export the checkpoint with 'ticket-classifier export' (it checks parity)"
        )
    report = json.loads(report_path.read_text(encoding="utf-8"))
    variant = next((entry for entry in report["variants"] if entry["precision"] == precision), None)
    if variant is None:
        raise TicketClassifierError(
            f"{precision} was not exported to {onnx_dir}; run 'ticket-classifier export --precisions {precision}'"
        )
    unmeasured = [field.name for field in dataclasses.fields(Gate) if variant.get(field.name) is None]
    if unmeasured:
        raise TicketClassifierError(
            f"{report_path} has no {', '.join(unmeasured)} for {precision}: it was written by an older "
            "ticket-classifier, before those gates; export the checkpoint again"
        )
    if not variant["passed"]:
        raise TicketClassifierError(
            f"{precision} failed its parity gate at export ({', '.join(variant['failures'])}; see {report_path}): "
            "it is not servable; build another precision (--precision)"
        )
    path = Path(onnx_dir) / onnx_filename(precision)
    if not path.is_file():
        raise TicketClassifierError(f"ONNX model not found: {path} (run 'ticket-classifier export' first)")
    missing = [name for name in CLASSIFIER_OUTPUTS if name not in onnx_output_names(path)]
    if missing:
        raise TicketClassifierError(
            f"{path} has no output {', '.join(missing)}: it was exported by an older ticket-classifier; "
            "export the checkpoint again"
        )
    return path, report


def onnx_output_names(path: Path) -> list[str]:
    """The graph outputs of an ONNX file (read without its weights)."""
    import onnx

    try:
        return [output.name for output in onnx.load(str(path), load_external_data=False).graph.output]
    except Exception as exc:  # onnx raises DecodeError and others for a file that is not a model
        raise TicketClassifierError(f"{path} is not a readable ONNX model: {exc}") from None


def quality_gate(checkpoint_dir: Path, min_macro_f1: float, allow_below_baseline: bool) -> dict:
    """Compare the checkpoint's test macro-F1 with its TF-IDF baseline and the floor; refuse unless allowed."""
    metrics_path = Path(checkpoint_dir) / METRICS_FILENAME
    metrics = json.loads(metrics_path.read_text(encoding="utf-8"))
    macro_f1 = float(metrics["test"]["macro_f1"])
    baseline = (metrics.get("baseline") or {}).get("macro_f1")
    shortfalls = []
    if baseline is not None and macro_f1 < baseline:
        shortfalls.append(f"its test macro-F1 {macro_f1:.3f} is below its own TF-IDF baseline's {baseline:.3f}")
    if macro_f1 < min_macro_f1:
        shortfalls.append(f"its test macro-F1 {macro_f1:.3f} is below repository.min_macro_f1 {min_macro_f1:.3f}")
    why = "; and ".join(shortfalls)
    if shortfalls and not allow_below_baseline:
        raise TicketClassifierError(
            f"refusing to serve {checkpoint_dir}: {why} (report: {Path(checkpoint_dir) / 'report' / 'report.md'}); "
            "train longer or on more data, or check the labels; --allow-below-baseline serves it anyway"
        )
    if shortfalls:
        log.warning("serving %s although %s (--allow-below-baseline); its model card says so", checkpoint_dir, why)
    return {
        "test_macro_f1": macro_f1,
        "baseline_macro_f1": baseline,
        "min_macro_f1": min_macro_f1,
        "passed": not shortfalls,
        "overridden": bool(shortfalls),
        "shortfalls": shortfalls,
    }
