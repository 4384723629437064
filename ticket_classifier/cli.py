"""The ``ticket-classifier`` command: one parser, the command groups of ``ticket_classifier.commands``.

Each group module registers its commands (``add_parsers``) without importing heavy packages;
a command's handler imports what it needs when it runs, so the thin client install (no torch,
no onnxruntime) can still use ``ticket-classifier classify``. A :class:`TicketClassifierError`
ends the command with one line on stderr and exit code 1.
"""

import argparse
import logging
import sys
from collections.abc import Callable

from ticket_classifier import __version__
from ticket_classifier.commands import build, classify, demo, serve, train, tune
from ticket_classifier.errors import TicketClassifierError

GROUPS = (train, build, serve, classify, demo, tune)
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


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="ticket-classifier",
        description="Train, export, serve (NVIDIA Triton) and query a service-desk ticket classifier.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for group in GROUPS:
        group.add_parsers(commands)
    for command in commands.choices.values():
        state_defaults(command)
    return parser


def state_defaults(parser: argparse.ArgumentParser) -> None:
    """Append "(default: X)" to the help of every flag whose default its help does not already name."""
    for action in parser._actions:
        if action.option_strings and action.help and action.default not in (None, False, "", argparse.SUPPRESS):
            if "default" not in action.help:
                action.help += " (default: %(default)s)"


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
