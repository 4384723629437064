"""``ticket-classifier classify``: one ticket from the command line, or a whole CSV file (or stdin)."""

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path

from ticket_classifier.clients.prediction import Prediction
from ticket_classifier.errors import TicketClassifierError

URL_ENV = "TICKET_CLASSIFIER_URL"
STANDARD_STREAM = "-"


def add_parsers(commands: argparse._SubParsersAction) -> None:
    """Register the ``classify`` command."""
    command = commands.add_parser("classify", help="classify a ticket through the running server")
    add_classify_arguments(command)
    command.set_defaults(handler=classify_command)


def add_classify_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of the ``classify`` command."""
    single = parser.add_argument_group("one ticket")
    single.add_argument("--subject", default="", help="ticket subject (default: empty)")
    single.add_argument("--description", default="", help="ticket description (default: empty)")
    single.add_argument("--json", action="store_true", help="print the prediction as JSON")
    batch = parser.add_argument_group("a CSV file")
    batch.add_argument(
        "--input",
        help="CSV of tickets (UTF-8, with or without BOM); - reads standard input (default: one ticket from the flags)",
    )
    batch.add_argument(
        "--output",
        help="predictions CSV: every input column, then the prediction's; rows already in it are skipped on a "
        "rerun; - writes standard output, no resume (required with --input, no default)",
    )
    batch.add_argument("--errors", help="CSV of rows that failed, with line and reason (default <output>.errors.csv)")
    batch.add_argument(
        "--text-columns",
        default="subject,description",
        help="one text column, or subject and description columns, comma-separated (default subject,description)",
    )
    batch.add_argument(
        "--id-column", default="ticket_id", help="ticket id column (default ticket_id; else line numbers)"
    )
    batch.add_argument("--batch-size", type=int, default=16, help="tickets per request (default 16)")
    batch.add_argument("--concurrency", type=int, default=4, help="requests in flight (default 4)")
    batch.add_argument(
        "--max-consecutive-failures",
        type=int,
        default=3,
        help="stop (resumable) after this many batches in a row found the server unavailable (default 3)",
    )
    parser.add_argument(
        "--url", help=f"server address host:port (default ${URL_ENV}, else client.grpc_url / client.http_url)"
    )
    parser.add_argument("--protocol", choices=["grpc", "http"], default="grpc", help="default grpc")
    parser.add_argument(
        "--config",
        help="production YAML with the client settings (default: configs/production.yaml of this folder if there "
        "is one, else the same built-in defaults); the review decision is always the served model's",
    )


def classify_command(args: argparse.Namespace) -> None:
    """Classify the ticket given on the command line, or every row of ``--input``."""
    from ticket_classifier.commands.production import production_config

    config = production_config(args.config)[0]
    url = args.url or os.environ.get(URL_ENV) or config.client.url(args.protocol)
    if args.input or args.output:
        _classify_file(args, config, url)
    else:
        _classify_one(args, config, url)


def _classify_one(args: argparse.Namespace, config, url: str) -> None:
    """One ticket, printed readably or as JSON."""
    from ticket_classifier.clients.client import TicketClassifierClient

    if not args.subject.strip() and not args.description.strip():
        raise TicketClassifierError("give --subject and/or --description (or --input and --output for a CSV file)")
    with TicketClassifierClient.from_settings(config.client, args.protocol, url=url) as client:
        prediction = client.classify(args.subject, args.description)
    print(json.dumps(prediction.to_dict(), indent=2) if args.json else format_prediction(prediction))


def _classify_file(args: argparse.Namespace, config, url: str) -> None:
    """Every row of the input CSV, with a progress bar and a closing summary; exit 1 when a row failed."""
    from ticket_classifier.clients.async_client import AsyncTicketClassifierClient
    from ticket_classifier.clients.batch import classify_csv

    if not (args.input and args.output):
        raise TicketClassifierError("a CSV run needs both --input and --output (- for standard input or output)")
    if args.input != STANDARD_STREAM and args.output != STANDARD_STREAM:
        if Path(args.input).resolve() == Path(args.output).resolve():
            raise TicketClassifierError("--output must not be the --input file")
    columns = [part.strip() for part in args.text_columns.split(",") if part.strip()]
    if len(columns) not in (1, 2):
        raise TicketClassifierError("--text-columns takes one column, or subject and description columns")
    output = None if args.output == STANDARD_STREAM else Path(args.output)
    if args.errors:
        errors = Path(args.errors)
    else:
        errors = Path("classify.errors.csv") if output is None else output.with_name(output.stem + ".errors.csv")

    def client_factory() -> AsyncTicketClassifierClient:
        return AsyncTicketClassifierClient.from_settings(config.client, args.protocol, url=url)

    summary = asyncio.run(
        classify_csv(
            None if args.input == STANDARD_STREAM else Path(args.input),
            output,
            errors,
            client_factory,
            id_column=args.id_column,
            text_columns=columns,
            batch_size=args.batch_size,
            concurrency=args.concurrency,
            max_consecutive_failures=args.max_consecutive_failures,
        )
    )
    report = sys.stderr if output is None else sys.stdout
    print("\n".join(summary.lines()), file=report)
    where = "standard output" if output is None else output
    print(f"predictions: {where}" + (f"; failed rows with reasons: {errors}" if summary.failed else ""), file=report)
    if summary.stopped:
        raise TicketClassifierError(f"stopped early: {summary.stopped}; rerun the same command to resume")
    if summary.failed:
        raise TicketClassifierError(f"{summary.failed} of {summary.rows} rows failed; the reasons are in {errors}")


def format_prediction(prediction: Prediction) -> str:
    """A readable, multi-line description of one prediction."""
    alternatives = ", ".join(f"{label} {score:.2f}" for label, score in prediction.top_k)
    review = "yes (" + "; ".join(prediction.review_reasons) + ")" if prediction.requires_review else "no"
    return (
        f"category:      {prediction.category}\n"
        f"confidence:    {prediction.confidence:.3f}\n"
        f"top 3:         {alternatives}\n"
        f"needs review:  {review}\n"
        f"novelty:       {prediction.novelty:.1f}\n"
        f"model version: {prediction.model_version}"
    )
