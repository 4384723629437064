"""``demo-data``, ``train``, ``distill`` and ``evaluate``: the training commands."""

import argparse
import functools
import logging
import shlex
import subprocess
import sys

from ticket_classifier.commands.flags import columns
from ticket_classifier.errors import TicketClassifierError
from ticket_classifier.training.config import DistillationConfig

log = logging.getLogger(__name__)


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
    command.add_argument(
        "--nproc",
        type=int,
        help="train with this many processes on this machine (PyTorch DDP through torchrun: one per GPU, or CPU "
        "processes); the batch size stays the global batch and must divide by it (default 1: this process)",
    )
    command.set_defaults(handler=functools.partial(_train, command))

    command = commands.add_parser(
        "distill",
        help="train a fast student of a fine-tuned checkpoint",
        description="Train a shallow student (the teacher's architecture with fewer layers) on the teacher's "
        "softened probabilities and the hard labels, over the teacher's own data and splits. The result is a "
        "checkpoint like train's: evaluate, export, build-repository and serve it the same way.",
    )
    command.add_argument(
        "--teacher",
        default="artifacts/checkpoint",
        help="the fine-tuned checkpoint to learn from (default %(default)s)",
    )
    command.add_argument(
        "--output-dir", default="artifacts/student", help="the student's checkpoint folder (default %(default)s)"
    )
    command.add_argument(
        "--student",
        default=DistillationConfig.student,
        help=f"student kind: transformer-N keeps N of the teacher's layers (default {DistillationConfig.student})",
    )
    command.add_argument(
        "--temperature",
        type=float,
        default=DistillationConfig.temperature,
        help=f"softening temperature of both models' logits (default {DistillationConfig.temperature})",
    )
    command.add_argument(
        "--alpha",
        type=float,
        default=DistillationConfig.alpha,
        help="weight of the teacher's probabilities in the loss; the rest is the hard-label loss "
        f"(default {DistillationConfig.alpha})",
    )
    command.add_argument("--epochs", type=int, help="passes over the training split (default: the teacher's)")
    command.add_argument(
        "--learning-rate", type=float, help="peak learning rate (default: the teacher's; a cnn learns faster at 1e-3)"
    )
    command.add_argument("--resume", action="store_true", help="continue an interrupted run in the output folder")
    command.add_argument(
        "--max-steps",
        type=int,
        help="train at most this many steps now, then pause (see --resume; default: to the end)",
    )
    command.set_defaults(handler=_distill)

    command = commands.add_parser("evaluate", help="evaluate a checkpoint and write its report")
    command.add_argument("--checkpoint", default="artifacts/checkpoint", help="checkpoint folder")
    command.add_argument("--data", help="labelled file to evaluate on (default: the checkpoint's own test split)")
    command.add_argument("--output-dir", help="report folder (default <checkpoint>/evaluation)")
    command.add_argument(
        "--review-policy",
        help="YAML with a review section for the review numbers (default: the one training used; either with the "
        "unknown-category threshold build-repository sets at the default flag rate)",
    )
    held_out = command.add_argument_group(
        "unknown-ticket detection, measured without peeking",
        "With --held-out-classes K: retrain from --config with K labels left out (chosen with --held-out-seed) and "
        "measure each novelty score on their tickets; writes novelty_evaluation.json and .md to --output-dir.",
    )
    held_out.add_argument("--held-out-classes", type=int, help="labels left out of training (default: none)")
    held_out.add_argument(
        "--config", help="training YAML of the retrained model (needed with --held-out-classes; default none)"
    )
    held_out.add_argument("--held-out-seed", type=int, default=13, help="seed of the choice of labels (default 13)")
    held_out.add_argument(
        "--flag-rate", type=float, default=0.05, help="share of in-scope validation tickets flagged (default 0.05)"
    )
    held_out.add_argument("--epochs", type=int, help="training epochs (default: the config's)")
    command.set_defaults(handler=_evaluate)


def _demo_data(args: argparse.Namespace) -> None:
    from ticket_classifier.training.demo_data import write_demo_csv

    try:
        path = write_demo_csv(args.output, args.rows, seed=args.seed, drifted=args.drifted)
    except ValueError as exc:
        raise TicketClassifierError(str(exc)) from None
    print(f"wrote {args.rows} {'drifted ' if args.drifted else ''}demo tickets to {path}")


def _train(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    from ticket_classifier.training.config import training_config
    from ticket_classifier.training.distributed import World, current_world, is_main_process
    from ticket_classifier.training.pipeline import train

    if args.max_steps is not None and args.max_steps < 1:
        raise TicketClassifierError("--max-steps must be at least 1")
    if args.nproc is not None and args.nproc < 1:
        raise TicketClassifierError(f"--nproc must be at least 1, got {args.nproc}")
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
    if args.nproc is not None and args.nproc > 1:
        if current_world().size > 1:
            raise TicketClassifierError("--nproc starts the training processes: leave it out under torchrun")
        World(size=args.nproc).check_batch_size(config.optimization.batch_size)
        _launch(args.nproc, _worker_arguments(parser, args))
        return
    result = train(config, resume=args.resume, max_steps=args.max_steps, wandb=args.wandb)
    if is_main_process():  # the main process prints the outcome
        _print_outcome(result)


def _print_outcome(result) -> None:
    """The summary of a finished run, or how to finish a paused one."""
    from ticket_classifier.training.evaluation import summary_table

    if not result.completed:
        print(
            f"paused after step {result.metrics['global_step']}: {result.checkpoint_dir} is not a finished checkpoint "
            "yet (it cannot be evaluated, exported or served); run the same command with --resume to finish it"
        )
        return
    print(summary_table(result.evaluation))
    print(f"checkpoint written to {result.checkpoint_dir}; report {result.checkpoint_dir / 'report' / 'report.md'}")


def _worker_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> list[str]:
    """The command line of ``args`` without ``--nproc``: what each training process runs."""
    arguments = ["--verbose", "train"] if args.verbose else ["train"]
    for action in parser._actions:
        value = getattr(args, action.dest, None)
        if not action.option_strings or action.dest == "nproc" or value is None or value is False:
            continue
        arguments += [action.option_strings[0]] if value is True else [action.option_strings[0], str(value)]
    return arguments


def _launch(nproc: int, arguments: list[str]) -> None:
    """Run ``torchrun --standalone --nproc-per-node nproc -m ticket_classifier.cli ARGUMENTS`` and wait for it."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}"]
    command += ["-m", "ticket_classifier.cli", *arguments]
    log.info("starting %d training processes: %s", nproc, shlex.join(command))
    returncode = subprocess.run(command).returncode
    if returncode:
        raise TicketClassifierError(
            f"the {nproc} training processes failed (torchrun exit code {returncode}); their errors are above"
        )


def _distill(args: argparse.Namespace) -> None:
    from ticket_classifier.training.distillation import distillation_config
    from ticket_classifier.training.pipeline import train

    if args.max_steps is not None and args.max_steps < 1:
        raise TicketClassifierError("--max-steps must be at least 1")
    config = distillation_config(
        args.teacher,
        args.output_dir,
        student=args.student,
        temperature=args.temperature,
        alpha=args.alpha,
        epochs=args.epochs,
        learning_rate=args.learning_rate,
    )
    _print_outcome(train(config, resume=args.resume, max_steps=args.max_steps))


def _evaluate(args: argparse.Namespace) -> None:
    from ticket_classifier.training.evaluation import summary_table
    from ticket_classifier.training.pipeline import evaluate_checkpoint

    if args.held_out_classes is not None:
        _evaluate_held_out(args)
        return
    if args.config or args.epochs:
        raise TicketClassifierError("--config and --epochs go with --held-out-classes")
    summary = evaluate_checkpoint(
        args.checkpoint, data=args.data, output_dir=args.output_dir, review_policy=args.review_policy
    )
    print(summary_table(summary))


def _evaluate_held_out(args: argparse.Namespace) -> None:
    from ticket_classifier.training.config import training_config
    from ticket_classifier.training.held_out import format_table, held_out_evaluation
    from ticket_classifier.training.pipeline import train

    if not args.config:
        raise TicketClassifierError("--held-out-classes needs --config (the training YAML to retrain from)")
    if args.data or args.review_policy:
        raise TicketClassifierError("--data and --review-policy do not go with --held-out-classes (use --config)")
    config = training_config(args.config, epochs=args.epochs)
    output_dir = args.output_dir or "artifacts/novelty_evaluation"
    evaluation = held_out_evaluation(
        config,
        held_out=args.held_out_classes,
        seed=args.held_out_seed,
        flag_rate=args.flag_rate,
        output_dir=output_dir,
        train=train,
    )
    print(format_table(evaluation))
    print(f"written to {output_dir}/novelty_evaluation.json")
