"""The ``ticket-classifier`` command.

Parsers are built here without importing heavy packages; each command's handler imports what
it needs when it runs, so the thin client install (no torch, no onnxruntime) can still use
``ticket-classifier classify``. A :class:`TicketClassifierError` ends the command with one line
on stderr and exit code 1.
"""

import argparse
import logging
import sys
from collections.abc import Callable

from ticket_classifier import __version__
from ticket_classifier.errors import TicketClassifierError

DEFAULT_PRODUCTION_CONFIG = "configs/production.yaml"
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
}


def _demo_data(args: argparse.Namespace) -> None:
    from ticket_classifier.training.demo_data import write_demo_csv

    try:
        path = write_demo_csv(args.output, args.rows, seed=args.seed, drifted=args.drifted)
    except ValueError as exc:
        raise TicketClassifierError(str(exc)) from None
    print(f"wrote {args.rows} {'drifted ' if args.drifted else ''}demo tickets to {path}")


def _train(args: argparse.Namespace) -> None:
    from ticket_classifier.training.evaluation import summary_table
    from ticket_classifier.training.pipeline import train_from_config_file

    if args.max_steps is not None and args.max_steps < 1:
        raise TicketClassifierError("--max-steps must be at least 1")
    result = train_from_config_file(
        args.config,
        data=args.data,
        output_dir=args.output_dir,
        resume=args.resume,
        max_steps=args.max_steps,
        wandb=args.wandb,
    )
    if not result.completed:
        print(f"paused after step {result.metrics['global_step']}; continue with the same command and --resume")
        return
    print(summary_table(result.evaluation))
    print(f"checkpoint written to {result.checkpoint_dir}; report {result.checkpoint_dir / 'report' / 'report.md'}")


def _evaluate(args: argparse.Namespace) -> None:
    from ticket_classifier.training.evaluation import summary_table
    from ticket_classifier.training.pipeline import evaluate_checkpoint

    summary = evaluate_checkpoint(
        args.checkpoint, data=args.data, output_dir=args.output_dir, review_threshold=args.review_threshold
    )
    print(summary_table(summary))


def _export(args: argparse.Namespace) -> None:
    from ticket_classifier.build.onnx_export import export_checkpoint
    from ticket_classifier.samples import SAMPLE_TICKETS
    from ticket_classifier.text import join_ticket_text

    texts = [join_ticket_text(ticket) for ticket in SAMPLE_TICKETS]
    path = export_checkpoint(args.checkpoint, args.output, texts)
    print(f"ONNX model written to {path}")


def _build_repository(args: argparse.Namespace) -> None:
    from ticket_classifier.build.repository import build_repository
    from ticket_classifier.production import load_production_config

    options = load_production_config(args.config).repository
    for name in ("device", "classifier_backend", "max_batch_size"):
        if getattr(args, name) is not None:
            setattr(options, name, getattr(args, name))
    options.__post_init__()
    built = build_repository(args.checkpoint, args.onnx, args.output, options, version=args.version)
    print(f"model repository {built.path}: version {built.version} ({built.model_version})")


def _serve(args: argparse.Namespace) -> None:
    from ticket_classifier.production import load_production_config
    from ticket_classifier.server import serve_forever

    config = load_production_config(args.config).server
    for name in ("http_port", "grpc_port", "metrics_port"):
        if getattr(args, name) is not None:
            setattr(config, name, getattr(args, name))
    serve_forever(args.model_repository, config)


def _classify(args: argparse.Namespace) -> None:
    from ticket_classifier.clients.cli import classify_command

    classify_command(args)


def _demo(args: argparse.Namespace) -> None:
    from ticket_classifier.demo import run_demo

    run_demo(rows=args.rows, config=args.config, production_config=args.production_config)


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

    command = commands.add_parser("train", help="fine-tune the encoder on labelled tickets")
    command.add_argument("--config", default="configs/demo.yaml", help="training YAML (default configs/demo.yaml)")
    command.add_argument("--data", help="data file, overriding data.path of the config")
    command.add_argument("--output-dir", help="checkpoint folder, overriding output_dir of the config")
    command.add_argument("--resume", action="store_true", help="continue an interrupted run in the output folder")
    command.add_argument("--max-steps", type=int, help="train at most this many steps now, then pause (see --resume)")
    command.add_argument("--wandb", action="store_true", help="also log to Weights & Biases (needs wandb installed)")
    command.set_defaults(handler=_train)

    command = commands.add_parser("evaluate", help="evaluate a checkpoint and write its report")
    command.add_argument("--checkpoint", default="artifacts/checkpoint", help="checkpoint folder")
    command.add_argument("--data", help="labelled file to evaluate on (default: the checkpoint's own test split)")
    command.add_argument("--output-dir", help="report folder (default <checkpoint>/evaluation)")
    command.add_argument("--review-threshold", type=float, help="confidence below which tickets go to review")
    command.set_defaults(handler=_evaluate)

    command = commands.add_parser("export", help="export a checkpoint to ONNX and check it against PyTorch")
    command.add_argument("--checkpoint", default="artifacts/checkpoint", help="checkpoint folder")
    command.add_argument("--output", default="artifacts/onnx/model.fp32.onnx", help="ONNX file to write")
    command.set_defaults(handler=_export)

    command = commands.add_parser("build-repository", help="write the Triton model repository")
    command.add_argument("--checkpoint", default="artifacts/checkpoint", help="checkpoint folder")
    command.add_argument("--onnx", default="artifacts/onnx/model.fp32.onnx", help="exported ONNX model")
    command.add_argument("--output", default="model_repository", help="repository folder")
    command.add_argument("--config", default=DEFAULT_PRODUCTION_CONFIG, help="production YAML")
    command.add_argument("--version", type=int, help="model version number (default: next free)")
    command.add_argument("--device", choices=["cpu", "gpu"], help="instance-group kind of the classifier")
    command.add_argument(
        "--classifier-backend",
        choices=["python", "onnxruntime"],
        help="python: onnxruntime inside the Python backend (pip server); onnxruntime: native (NGC container)",
    )
    command.add_argument("--max-batch-size", type=int, help="max_batch_size of every model")
    command.set_defaults(handler=_build_repository)

    command = commands.add_parser("serve", help="run tritonserver on the repository in the foreground")
    command.add_argument("--model-repository", default="model_repository", help="repository folder")
    command.add_argument("--config", default=DEFAULT_PRODUCTION_CONFIG, help="production YAML")
    command.add_argument("--http-port", type=int)
    command.add_argument("--grpc-port", type=int)
    command.add_argument("--metrics-port", type=int)
    command.set_defaults(handler=_serve)

    command = commands.add_parser("classify", help="classify a ticket through the running server")
    from ticket_classifier.clients.cli import add_classify_arguments

    add_classify_arguments(command)
    command.set_defaults(handler=_classify)

    command = commands.add_parser("demo", help="end to end on the demo data: train, export, serve, classify")
    command.add_argument("--rows", type=int, default=3000, help="demo tickets to generate (default 3000)")
    command.add_argument("--config", default="configs/demo.yaml", help="training YAML")
    command.add_argument("--production-config", default=DEFAULT_PRODUCTION_CONFIG, help="production YAML")
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
