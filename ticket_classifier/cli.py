"""The ``ticket-classifier`` command.

Parsers are built here without importing heavy packages; each command's handler imports what
it needs when it runs, so the thin client install (no torch, no onnxruntime) can still use
``ticket-classifier classify``. A :class:`TicketClassifierError` ends the command with one line
on stderr and exit code 1.
"""

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path

from ticket_classifier import __version__
from ticket_classifier.errors import TicketClassifierError

PRODUCTION_CONFIG_HELP = (
    "production YAML (default: configs/production.yaml of this folder if there is one, else the same built-in defaults)"
)
EXTRA_FOR_MODULE = {
    "torch": "train",
    "transformers": "train",
    "sklearn": "train",
    "pandas": "train",
    "matplotlib": "train",
    "onnx": "train",
    "onnxruntime": "serve",
    "tokenizers": "serve",
    "tritonclient": "client",
    "prometheus_client": "monitoring",
}


def _demo_data(args: argparse.Namespace) -> None:
    from ticket_classifier.training.demo_data import write_demo_csv

    try:
        path = write_demo_csv(args.output, args.rows, seed=args.seed, drifted=args.drifted)
    except ValueError as exc:
        raise TicketClassifierError(str(exc)) from None
    print(f"wrote {args.rows} {'drifted ' if args.drifted else ''}demo tickets to {path}")


def _train(args: argparse.Namespace) -> None:
    from ticket_classifier.training.config import training_config
    from ticket_classifier.training.evaluation import summary_table
    from ticket_classifier.training.pipeline import train

    if args.max_steps is not None and args.max_steps < 1:
        raise TicketClassifierError("--max-steps must be at least 1")
    config = training_config(
        args.config,
        data=args.data,
        text_columns=_columns(args.text_columns, "--text-columns"),
        label_column=args.label_column,
        timestamp_column=args.timestamp_column,
        output_dir=args.output_dir,
        min_examples_per_label=args.min_examples_per_label,
        drop_rare_labels=args.drop_rare_labels or None,
        encoder=args.encoder,
        epochs=args.epochs,
        encoding=args.encoding,
        review_policy=args.review_policy,
    )
    result = train(config, resume=args.resume, max_steps=args.max_steps, wandb=args.wandb)
    if not result.completed:
        print(
            f"paused after step {result.metrics['global_step']}: {result.checkpoint_dir} is not a finished checkpoint "
            "yet (it cannot be evaluated, exported or served); run the same command with --resume to finish it"
        )
        return
    print(summary_table(result.evaluation))
    print(f"checkpoint written to {result.checkpoint_dir}; report {result.checkpoint_dir / 'report' / 'report.md'}")


def _columns(value: str | None, flag: str) -> list[str] | None:
    """A comma-separated list of column names (None when the flag was not given)."""
    if value is None:
        return None
    columns = [part.strip() for part in value.split(",") if part.strip()]
    if not columns:
        raise TicketClassifierError(f"{flag} needs at least one column name")
    return columns


def _evaluate(args: argparse.Namespace) -> None:
    from ticket_classifier.training.evaluation import summary_table
    from ticket_classifier.training.pipeline import evaluate_checkpoint

    summary = evaluate_checkpoint(
        args.checkpoint, data=args.data, output_dir=args.output_dir, review_policy=args.review_policy
    )
    print(summary_table(summary))


def _export(args: argparse.Namespace) -> None:
    from ticket_classifier.build.layout import BUILD_REPORT_FILENAME
    from ticket_classifier.build.onnx_export import export_variants, parity_table

    if args.parity_samples < 1:
        raise TicketClassifierError("--parity-samples must be at least 1")
    precisions = tuple(part.strip() for part in args.precisions.split(",") if part.strip())
    report_path = Path(args.output_dir) / BUILD_REPORT_FILENAME
    report_path.unlink(missing_ok=True)
    try:
        report = export_variants(
            args.checkpoint,
            args.output_dir,
            precisions=precisions,
            parity_data=args.parity_data,
            parity_samples=args.parity_samples,
            quantization_preset=args.quantization_preset,
        )
    except TicketClassifierError:
        if report_path.is_file():  # a gate failed: show every variant before the error
            print(parity_table(json.loads(report_path.read_text(encoding="utf-8"))))
        raise
    print(parity_table(report))
    print(f"ONNX models and {BUILD_REPORT_FILENAME} written to {args.output_dir}")


def _apply_flags(section: object, args: argparse.Namespace, names: tuple[str, ...]) -> None:
    """Let the command-line flags that were given override the same-named fields of a config section."""
    for name in names:
        if getattr(args, name) is not None:
            setattr(section, name, getattr(args, name))


def _build_repository(args: argparse.Namespace) -> None:
    from ticket_classifier.build.repository import build_repository
    from ticket_classifier.production import load_review_policy, production_config

    production, source = production_config(args.config)
    options = production.repository
    _apply_flags(options, args, ("device", "classifier_backend", "max_batch_size", "precision"))
    options.__post_init__()
    if args.review_policy:
        policy, policy_source = load_review_policy(args.review_policy), args.review_policy
    else:
        policy, policy_source = production.review, f"the review section of {source}"
    built = build_repository(
        args.checkpoint,
        args.onnx_dir,
        args.output,
        options,
        version=args.version,
        review_policy=policy,
        review_policy_source=policy_source,
        allow_below_baseline=args.allow_below_baseline,
    )
    print(f"model repository {built.path}: version {built.version} ({built.model_version}); settings: {source}")
    print(f"model card: {built.model_card}")


def _rollout(args: argparse.Namespace) -> None:
    from ticket_classifier.admin_key import read_admin_key
    from ticket_classifier.build.rollout import rollout
    from ticket_classifier.triton_admin import tls_context

    result = rollout(
        args.model_repository,
        args.version,
        args.url,
        admin_key=read_admin_key(args.admin_key_file),
        ssl_context=tls_context(args.ca_file),
    )
    print(f"ticket_classifier now serves version {result['active']} (was {result['previous']})")


def _benchmark_serving(args: argparse.Namespace) -> None:
    import csv
    import platform

    from ticket_classifier.build.serving_benchmark import format_rows, run_benchmark, write_results

    fields = [field.strip() for field in args.text_fields.split(",") if field.strip()]
    if len(fields) not in (1, 2):
        raise TicketClassifierError("--text-fields takes one or two column names (subject,description)")
    try:
        concurrencies = [int(part) for part in args.concurrency.split(",")]
    except ValueError:
        raise TicketClassifierError(
            f"--concurrency must be comma-separated integers, got {args.concurrency!r}"
        ) from None
    if min(concurrencies) < 1 or args.requests < 1:
        raise TicketClassifierError("--concurrency levels and --requests must be at least 1")
    try:
        with open(args.data, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    except FileNotFoundError:
        raise TicketClassifierError(f"data file not found: {args.data}") from None
    missing = [field for field in fields if rows and field not in rows[0]]
    if not rows or missing:
        raise TicketClassifierError(f"{args.data} has no rows or lacks column(s) {', '.join(missing)}")
    tickets = [("", row[fields[0]]) if len(fields) == 1 else (row[fields[0]], row[fields[1]]) for row in rows]
    variants = [variant.strip() for variant in args.variants.split(",") if variant.strip()]
    results = run_benchmark(
        args.checkpoint, args.onnx_dir, tickets, variants=variants, concurrencies=concurrencies, requests=args.requests
    )
    context = {"command": " ".join(sys.argv), "machine": f"{platform.machine()}, {os.cpu_count()} CPUs"}
    path = write_results(args.output, results, context)
    print()
    print(format_rows(results))
    print(f"written to {path}")


def _drift_monitor(args: argparse.Namespace) -> None:
    import signal
    import threading

    from ticket_classifier.monitoring.drift_monitor import DriftMonitor
    from ticket_classifier.production import production_config

    config = production_config(args.config)[0].monitoring
    _apply_flags(
        config, args, ("port", "bind_address", "triton_url", "triton_metrics_url", "model_repository", "reference")
    )
    if args.scrape_interval is not None:
        config.scrape_interval_s = args.scrape_interval
    try:
        config.__post_init__()
    except ValueError as exc:
        raise TicketClassifierError(str(exc)) from None
    monitor = DriftMonitor(config)
    monitor.refresh_reference()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    print(
        f"drift monitor on {config.bind_address}:{config.port}/metrics, scraping {config.triton_metrics_url}",
        flush=True,
    )
    monitor.run(stop)


def _serve(args: argparse.Namespace) -> None:
    from ticket_classifier.production import production_config
    from ticket_classifier.supervisor import serve_forever

    config = production_config(args.config)[0].server
    _apply_flags(
        config, args, ("http_port", "grpc_port", "metrics_port", "health_port", "bind_address", "http_bind_address")
    )
    config.__post_init__()
    serve_forever(args.model_repository, config)


def _classify(args: argparse.Namespace) -> None:
    from ticket_classifier.clients.cli import classify_command

    classify_command(args)


def _demo(args: argparse.Namespace) -> None:
    from ticket_classifier.demo import run_demo

    run_demo(
        rows=args.rows, config=args.config, production_config=args.production_config, review_policy=args.review_policy
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="ticket-classifier",
        description="Train, export, serve (NVIDIA Triton) and query a service-desk ticket classifier.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    command = commands.add_parser("demo-data", help="write the synthetic demo ticket CSV")
    command.add_argument("--output", default="data/demo/tickets.csv", help="CSV file to write")
    command.add_argument("--rows", type=int, default=3000, help="number of tickets (default 3000)")
    command.add_argument("--seed", type=int, default=13, help="random seed (default 13)")
    command.add_argument("--drifted", action="store_true", help="shifted category mix and vocabulary")
    command.set_defaults(handler=_demo_data)

    command = commands.add_parser(
        "train",
        help="fine-tune the encoder on labelled tickets",
        description="Fine-tune on a CSV or Parquet file. Flags alone are enough; a --config YAML is optional "
        "(its relative paths are relative to it), and flags override it.",
    )
    command.add_argument("--config", help="training YAML (optional; see configs/demo.yaml)")
    command.add_argument("--data", help="CSV (UTF-8, with or without BOM) or Parquet file of labelled tickets")
    command.add_argument(
        "--text-columns",
        help="one or two text columns, comma-separated, joined in this order (default subject,description)",
    )
    command.add_argument("--label-column", help="the label column (default category)")
    command.add_argument(
        "--timestamp-column",
        help="split by time on this column (train on older); 'none' for a stratified split (default)",
    )
    command.add_argument("--output-dir", help="checkpoint folder (default artifacts/checkpoint)")
    command.add_argument(
        "--min-examples-per-label", type=int, help="labels with fewer examples are an error, or dropped (default 10)"
    )
    command.add_argument(
        "--drop-rare-labels", action="store_true", help="drop (and count) the rows of labels under the minimum"
    )
    command.add_argument("--encoder", help="minilm (bundled, default), a local model folder or a hub id")
    command.add_argument("--epochs", type=int, help="passes over the training split (default 3)")
    command.add_argument("--encoding", help="the CSV's encoding when it is not UTF-8 (for example cp1252)")
    command.add_argument(
        "--review-policy",
        help="YAML with a review section (as configs/production.yaml) for the report's review numbers; "
        "give the same file to build-repository (default: production.yaml's defaults)",
    )
    command.add_argument("--resume", action="store_true", help="continue an interrupted run in the output folder")
    command.add_argument("--max-steps", type=int, help="train at most this many steps now, then pause (see --resume)")
    command.add_argument("--wandb", action="store_true", help="also log to Weights & Biases (needs wandb installed)")
    command.set_defaults(handler=_train)

    command = commands.add_parser("evaluate", help="evaluate a checkpoint and write its report")
    command.add_argument("--checkpoint", default="artifacts/checkpoint", help="checkpoint folder")
    command.add_argument("--data", help="labelled file to evaluate on (default: the checkpoint's own test split)")
    command.add_argument("--output-dir", help="report folder (default <checkpoint>/evaluation)")
    command.add_argument(
        "--review-policy", help="YAML with a review section for the review numbers (default: the one training used)"
    )
    command.set_defaults(handler=_evaluate)

    command = commands.add_parser("export", help="export FP32/FP16/INT8 ONNX behind parity gates against PyTorch")
    command.add_argument("--checkpoint", default="artifacts/checkpoint", help="checkpoint folder")
    command.add_argument(
        "--output-dir", default="artifacts/onnx", help="folder for model.<precision>.onnx and the report"
    )
    command.add_argument("--precisions", default="fp32,fp16,int8", help="comma-separated (default fp32,fp16,int8)")
    command.add_argument("--parity-data", help="labelled held-out file for the parity gates (default: the test split)")
    command.add_argument("--parity-samples", type=int, default=1000, help="texts compared (default 1000)")
    command.add_argument(
        "--quantization-preset", choices=["avx512_vnni", "avx512", "avx2", "arm64"], help="default: this CPU's"
    )
    command.set_defaults(handler=_export)

    command = commands.add_parser("build-repository", help="write the Triton model repository")
    command.add_argument("--checkpoint", default="artifacts/checkpoint", help="checkpoint folder")
    command.add_argument("--onnx-dir", default="artifacts/onnx", help="folder written by 'export'")
    command.add_argument("--precision", choices=["fp32", "fp16", "int8"], help="which exported model to serve")
    command.add_argument("--output", default="model_repository", help="repository folder")
    command.add_argument("--config", help=PRODUCTION_CONFIG_HELP)
    command.add_argument(
        "--review-policy",
        help="YAML with the review policy to serve (a review section, as in configs/production.yaml); "
        "default: the review section of --config",
    )
    command.add_argument(
        "--allow-below-baseline",
        action="store_true",
        help="serve a model whose test macro-F1 is below its TF-IDF baseline or repository.min_macro_f1",
    )
    command.add_argument("--version", type=int, help="model version number (default: next free)")
    command.add_argument("--device", choices=["cpu", "gpu"], help="instance-group kind of the classifier")
    command.add_argument(
        "--classifier-backend",
        choices=["python", "onnxruntime"],
        help="python: onnxruntime inside the Python backend (pip server); onnxruntime: native (NGC container)",
    )
    command.add_argument("--max-batch-size", type=int, help="max_batch_size of every model")
    command.set_defaults(handler=_build_repository)

    command = commands.add_parser("rollout", help="switch a running server to another model version")
    command.add_argument("--model-repository", default="model_repository", help="repository folder")
    command.add_argument("--version", type=int, required=True, help="version to activate (must be built)")
    command.add_argument(
        "--url",
        default="localhost:8000",
        help="the server's HTTP address: host:port, or https://host:port behind a TLS proxy (default localhost:8000)",
    )
    command.add_argument("--ca-file", help="CA bundle that signed the proxy's certificate (default: the system's)")
    command.add_argument(
        "--admin-key-file", help="file with the server's admin key (default: $TICKET_CLASSIFIER_ADMIN_KEY, if set)"
    )
    command.set_defaults(handler=_rollout)

    command = commands.add_parser(
        "benchmark-serving", help="compare repository variants on a real tritonserver (table + JSON)"
    )
    command.add_argument("--checkpoint", default="artifacts/demo/checkpoint", help="checkpoint folder")
    command.add_argument("--onnx-dir", default="artifacts/demo/onnx", help="folder written by 'export'")
    command.add_argument("--data", default="data/demo/tickets.csv", help="CSV whose tickets are sent")
    command.add_argument("--text-fields", default="subject,description", help="subject and description columns")
    command.add_argument("--variants", default="fp32,fp32-no-buckets,int8", help="comma-separated variants")
    command.add_argument("--concurrency", default="1,8,32", help="comma-separated concurrency levels")
    command.add_argument("--requests", type=int, default=300, help="requests per level (default 300)")
    command.add_argument("--output", default="artifacts/benchmarks/serving.json", help="JSON result file")
    command.set_defaults(handler=_benchmark_serving)

    command = commands.add_parser("drift-monitor", help="the PSI drift sidecar: scrape Triton, expose metrics")
    command.add_argument("--config", help=PRODUCTION_CONFIG_HELP)
    command.add_argument("--port", type=int, help="port of the sidecar's /metrics and /healthz (default 8003)")
    command.add_argument("--bind-address", help="address of that port (default: monitoring.bind_address, 127.0.0.1)")
    command.add_argument(
        "--triton-url", help="Triton's HTTP address: host:port or https://... (default localhost:8000)"
    )
    command.add_argument("--triton-metrics-url", help="Triton's metrics URL (default http://localhost:8002/metrics)")
    command.add_argument("--model-repository", help="repository whose active version gives the reference")
    command.add_argument("--reference", help="a fixed drift_reference.json instead")
    command.add_argument("--scrape-interval", type=float, help="seconds between scrapes (default 15)")
    command.epilog = (
        "The webhook URL (it may hold a token) comes from monitoring.webhook_url or $TICKET_CLASSIFIER_WEBHOOK_URL."
    )
    command.set_defaults(handler=_drift_monitor)

    command = commands.add_parser("serve", help="run tritonserver on the repository in the foreground")
    command.add_argument("--model-repository", default="model_repository", help="repository folder")
    command.add_argument("--config", help=PRODUCTION_CONFIG_HELP)
    command.add_argument("--http-port", type=int, help="Triton's HTTP port (default: server.http_port, 8000)")
    command.add_argument("--grpc-port", type=int, help="Triton's gRPC port (default: server.grpc_port, 8001)")
    command.add_argument("--metrics-port", type=int, help="Triton's metrics port (default: server.metrics_port, 8002)")
    command.add_argument(
        "--health-port",
        type=int,
        help="port of /ready and /live, the probes to use (default: server.health_port, 8004)",
    )
    command.add_argument(
        "--bind-address",
        help="address of gRPC, metrics and health (default: server.bind_address, 127.0.0.1); beyond loopback an "
        "admin key is required in $TICKET_CLASSIFIER_ADMIN_KEY or server.admin_key_file",
    )
    command.add_argument(
        "--http-bind-address",
        help="address of Triton's HTTP API (default: server.http_bind_address, 127.0.0.1); publish it through the "
        "TLS proxy of deploy/tls-proxy rather than directly (README, section 'Security')",
    )
    command.set_defaults(handler=_serve)

    command = commands.add_parser("classify", help="classify a ticket through the running server")
    from ticket_classifier.clients.cli import add_classify_arguments

    add_classify_arguments(command)
    command.set_defaults(handler=_classify)

    command = commands.add_parser("demo", help="end to end on the demo data: train, export, serve, classify")
    command.add_argument("--rows", type=int, default=3000, help="demo tickets to generate (default 3000)")
    command.add_argument("--config", default="configs/demo.yaml", help="training YAML")
    command.add_argument("--production-config", default="configs/production.yaml", help="production YAML")
    command.add_argument(
        "--review-policy", default="configs/demo_review_policy.yaml", help="review policy served (and reported)"
    )
    command.set_defaults(handler=_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(message)s")
    handler: Callable[[argparse.Namespace], None] = args.handler
    try:
        handler(args)
    except TicketClassifierError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except ModuleNotFoundError as exc:
        extra = EXTRA_FOR_MODULE.get((exc.name or "").split(".")[0])
        if extra is None:
            raise
        print(
            f"error: '{args.command}' needs the package {exc.name}: pip install 'ticket-classifier[{extra}]'",
            file=sys.stderr,
        )
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
