"""``demo-data``, ``train`` and ``evaluate``: the training commands."""

import argparse

from ticket_classifier.commands.flags import columns
from ticket_classifier.errors import TicketClassifierError


def add_parsers(commands: argparse._SubParsersAction) -> None:
    """Register this group's commands."""
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
    command.add_argument(
        "--config", help="training YAML (optional, default none: flags and built-in defaults; see configs/demo.yaml)"
    )
    command.add_argument(
        "--data",
        help="CSV (UTF-8, with or without BOM) or Parquet file of labelled tickets (default: data.path of --config)",
    )
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
    command.add_argument(
        "--encoding", help="the CSV's encoding when it is not UTF-8, for example cp1252 (default utf-8)"
    )
    command.add_argument(
        "--review-policy",
        help="YAML with a review section (as configs/production.yaml) for the report's review numbers; "
        "give the same file to build-repository (default: production.yaml's defaults)",
    )
    command.add_argument("--resume", action="store_true", help="continue an interrupted run in the output folder")
    command.add_argument(
        "--max-steps",
        type=int,
        help="train at most this many steps now, then pause (see --resume; default: train to the end)",
    )
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
        text_columns=columns(args.text_columns, "--text-columns"),
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


def _evaluate(args: argparse.Namespace) -> None:
    from ticket_classifier.training.evaluation import summary_table
    from ticket_classifier.training.pipeline import evaluate_checkpoint

    summary = evaluate_checkpoint(
        args.checkpoint, data=args.data, output_dir=args.output_dir, review_policy=args.review_policy
    )
    print(summary_table(summary))
