"""What the command groups share: turning flags into validated config sections."""

import argparse
import dataclasses
from typing import TypeVar

from ticket_classifier.errors import TicketClassifierError

T = TypeVar("T")
PRODUCTION_CONFIG_HELP = (
    "production YAML (default: configs/production.yaml of this folder if there is one, else the same built-in defaults)"
)


def with_flags(section: T, args: argparse.Namespace, names: tuple[str, ...], **renamed: str) -> T:
    """A copy of a config section with the command-line flags that were given (``names``: flags named
    like their field; ``renamed``: flag -> field), validated as the file's values are."""
    chosen = {name: name for name in names} | renamed
    overrides = {field: getattr(args, flag) for flag, field in chosen.items() if getattr(args, flag) is not None}
    try:
        return dataclasses.replace(section, **overrides)
    except ValueError as exc:
        raise TicketClassifierError(str(exc)) from None


def length_buckets(value: str) -> list[int]:
    """``--length-buckets``: comma-separated lengths, or ``none``."""
    if value.strip().lower() == "none":
        return []
    try:
        return [int(part) for part in value.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated lengths such as 32,64, or none; got {value!r}"
        ) from None


def columns(value: str | None, flag: str) -> list[str] | None:
    """A comma-separated list of column names (None when the flag was not given)."""
    if value is None:
        return None
    columns = [part.strip() for part in value.split(",") if part.strip()]
    if not columns:
        raise TicketClassifierError(f"{flag} needs at least one column name")
    return columns


def comma_list(value: str) -> list[str]:
    """A comma-separated list of names, blanks dropped."""
    return [part.strip() for part in value.split(",") if part.strip()]


def comma_integers(value: str, flag: str) -> list[int]:
    """A comma-separated list of integers, or a clear error naming ``flag``."""
    try:
        return [int(part) for part in comma_list(value)]
    except ValueError:
        raise TicketClassifierError(f"{flag} must be comma-separated integers, got {value!r}") from None


def add_load_test_inputs(command: argparse.ArgumentParser) -> None:
    """The model and the tickets a serving measurement (``benchmark-serving``, ``tune``) uses."""
    command.add_argument("--checkpoint", default="artifacts/demo/checkpoint", help="checkpoint folder")
    command.add_argument("--onnx-dir", default="artifacts/demo/onnx", help="folder written by 'export'")
    command.add_argument("--data", default="data/demo/tickets.csv", help="CSV whose tickets are sent")
    command.add_argument(
        "--text-fields", default="subject,description", help="subject and description columns, or one text column"
    )
    command.add_argument("--tickets", type=int, default=1000, help="tickets taken from --data, in order (default 1000)")
