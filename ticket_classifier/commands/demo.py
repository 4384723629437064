"""``make demo``: the whole product once, on the synthetic demo data and the bundled MiniLM.

Generates the demo CSV, trains, exports ONNX, builds ``model_repository/``, starts the real
``tritonserver``, classifies the sample tickets over gRPC and over HTTP, prints them as a
table and stops the server.
"""

import argparse
import json
import logging
import shutil
import time
from collections.abc import Sequence
from pathlib import Path

from ticket_classifier.build.layout import STATE_FILENAME
from ticket_classifier.errors import TicketClassifierError
from ticket_classifier.runtime.contract import ENSEMBLE, STEP_MODELS
from ticket_classifier.samples import SAMPLE_TICKETS

log = logging.getLogger(__name__)

DATA_PATH = Path("data/demo/tickets.csv")
ARTIFACTS = Path("artifacts/demo")
REPOSITORY = Path("model_repository")


def add_parsers(commands: argparse._SubParsersAction) -> None:
    """Register the ``demo`` command."""
    command = commands.add_parser("demo", help="end to end on the demo data: train, export, serve, classify")
    command.add_argument("--rows", type=int, default=3000, help="demo tickets to generate (default 3000)")
    command.add_argument("--config", default="configs/demo.yaml", help="training YAML")
    command.add_argument("--production-config", default="configs/production.yaml", help="production YAML")
    command.add_argument(
        "--review-policy", default="configs/demo_review_policy.yaml", help="review policy served (and reported)"
    )
    command.set_defaults(handler=_demo_command)


def _demo_command(args: argparse.Namespace) -> None:
    run_demo(
        rows=args.rows, config=args.config, production_config=args.production_config, review_policy=args.review_policy
    )


def run_demo(*, rows: int, config: str, production_config: str, review_policy: str) -> None:
    """Run every stage of the demo in order, timing each."""
    from ticket_classifier.build.onnx_export import export_variants, parity_table
    from ticket_classifier.build.repository import build_repository
    from ticket_classifier.commands.production import load_production_config, load_review_policy
    from ticket_classifier.training.config import training_config
    from ticket_classifier.training.demo_data import write_demo_csv
    from ticket_classifier.training.pipeline import train

    production = load_production_config(production_config)
    policy = load_review_policy(review_policy)
    timings = {}
    started = time.monotonic()
    _stage("1/5 demo data", timings, lambda: write_demo_csv(DATA_PATH, rows))
    result = _stage(
        "2/5 training (bundled all-MiniLM-L6-v2)",
        timings,
        lambda: train(
            training_config(
                config, data=str(DATA_PATH), output_dir=str(ARTIFACTS / "checkpoint"), review_policy=review_policy
            )
        ),
    )
    onnx_dir = ARTIFACTS / "onnx"
    report = _stage(
        "3/5 ONNX export (FP32, FP16, INT8) and parity gates",
        timings,
        lambda: export_variants(result.checkpoint_dir, onnx_dir),
    )
    print(parity_table(report))
    _clear_generated_models(REPOSITORY)
    built = _stage(
        "4/5 model repository",
        timings,
        lambda: build_repository(
            result.checkpoint_dir,
            onnx_dir,
            REPOSITORY,
            production.repository,
            review_policy=policy,
            review_policy_source=review_policy,
            # Template-made demo tickets suit a keyword model: the fine-tuned encoder lands within a point
            # or two of its TF-IDF baseline, either side. The demo shows the path; the model card records it.
            allow_below_baseline=True,
        ),
    )
    predictions = _stage("5/5 serve and classify", timings, lambda: _serve_and_classify(production))
    print()
    print(format_table(predictions))
    print()
    test = result.metrics["test"]
    print(f"test split: accuracy {test['accuracy']:.3f}, macro-F1 {test['macro_f1']:.3f}")
    print(f"served model version {built.model_version}; model card {built.model_card}")
    gate = json.loads(built.model_card.with_suffix(".json").read_text())["quality_gate"]
    if not gate["passed"]:
        print(f"note: quality gate overridden for the demo: {'; '.join(gate['shortfalls'])}")
    print(
        "stage timings: " + ", ".join(f"{name.split(' ', 1)[1]} {seconds:.0f} s" for name, seconds in timings.items())
    )
    print(f"demo finished in {time.monotonic() - started:.0f} s")


def _stage(name: str, timings: dict, action):
    """Run one stage, log it and record its duration."""
    log.info("== %s", name)
    started = time.monotonic()
    value = action()
    timings[name] = time.monotonic() - started
    return value


def _clear_generated_models(repository: Path) -> None:
    """Remove the demo's previous models and their state so the repository holds one fresh version."""
    for name in (ENSEMBLE, *STEP_MODELS):
        shutil.rmtree(repository / name, ignore_errors=True)
    (repository / STATE_FILENAME).unlink(missing_ok=True)


def _serve_and_classify(production) -> list[tuple]:
    """Start tritonserver, classify the samples over both protocols, stop it."""
    from ticket_classifier.clients.client import TicketClassifierClient
    from ticket_classifier.server import TritonServer

    rows = []
    with TritonServer(REPOSITORY, production.server) as server:
        log.info("tritonserver ready (HTTP %s, gRPC %s)", server.http_url, server.grpc_url)
        for protocol, url in (("grpc", server.grpc_url), ("http", server.http_url)):
            with TicketClassifierClient(url, protocol=protocol) as client:
                predictions = client.classify_batch(list(SAMPLE_TICKETS))
            rows.extend(
                (protocol, subject, prediction) for (subject, _), prediction in zip(SAMPLE_TICKETS, predictions)
            )
    by_protocol = {}
    for protocol, _, prediction in rows:
        by_protocol.setdefault(protocol, []).append(prediction.category)
    if by_protocol["grpc"] != by_protocol["http"]:
        raise TicketClassifierError("gRPC and HTTP returned different categories for the same tickets")
    return rows


def format_table(rows: Sequence[tuple]) -> str:
    """The demo's result table: one line per ticket and protocol."""
    header = ("proto", "subject", "category", "conf", "top-3", "review", "model version")
    lines = [
        (
            protocol,
            subject[:34],
            prediction.category,
            f"{prediction.confidence:.2f}",
            " ".join(f"{label}:{score:.2f}" for label, score in prediction.top_k),
            "yes" if prediction.requires_review else "no",
            prediction.model_version,
        )
        for protocol, subject, prediction in rows
    ]
    widths = [max(len(str(line[column])) for line in [header, *lines]) for column in range(len(header))]

    def render(line: Sequence[object]) -> str:
        return "  ".join(str(cell).ljust(width) for cell, width in zip(line, widths)).rstrip()

    return "\n".join([render(header), render(tuple("-" * width for width in widths)), *map(render, lines)])
