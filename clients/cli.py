"""``ticket-classifier classify``: one ticket from the command line, or a whole CSV file."""

import argparse
import asyncio
import json
from pathlib import Path

from ticket_classifier.clients.prediction import Prediction
from ticket_classifier.errors import TicketClassifierError

DEFAULT_CONFIG = "configs/production.yaml"


def add_classify_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of the ``classify`` command."""
    single = parser.add_argument_group("one ticket")
    single.add_argument("--subject", default="", help="ticket subject")
    single.add_argument("--description", default="", help="ticket description")
    single.add_argument("--json", action="store_true", help="print the prediction as JSON")
    batch = parser.add_argument_group("a CSV file")
    batch.add_argument("--input", help="CSV with subject and description columns (and ticket_id)")
    batch.add_argument("--output", help="predictions CSV; rows already in it are skipped on a rerun")
    batch.add_argument("--errors", help="CSV of rows that failed, with the reason (default <output>.errors.csv)")
    batch.add_argument(
        "--id-column", default="ticket_id", help="ticket id column (default ticket_id; else row numbers)"
    )
    batch.add_argument("--subject-column", default="subject")
    batch.add_argument("--description-column", default="description")
    batch.add_argument("--batch-size", type=int, default=16, help="tickets per request (default 16)")
    batch.add_argument("--concurrency", type=int, default=4, help="requests in flight (default 4)")
    batch.add_argument(
        "--max-consecutive-failures",
        type=int,
        default=3,
        help="stop (resumable) after this many batches in a row found the server unavailable (default 3)",
    )
    parser.add_argument("--url", help="server address host:port (default from the production config)")
    parser.add_argument("--protocol", choices=["grpc", "http"], default="grpc", help="default grpc")
    parser.add_argument(
        "--config",
        help=f"production YAML with the review policy and client settings (default {DEFAULT_CONFIG} if present)",
    )


def classify_command(args: argparse.Namespace) -> None:
    """Classify the ticket given on the command line, or every row of ``--input``."""
    from ticket_classifier.production import ProductionConfig, load_production_config

    if args.config or Path(DEFAULT_CONFIG).is_file():
        config = load_production_config(args.config or DEFAULT_CONFIG)
    else:
        config = ProductionConfig()
    url = args.url or config.client.url(args.protocol)
    if args.input or args.output:
        _classify_file(args, config, url)
    else:
        _classify_one(args, config, url)


def _classify_one(args: argparse.Namespace, config, url: str) -> None:
    """One ticket, printed readably or as JSON."""
    from ticket_classifier.clients.client import TicketClassifierClient

    if not args.subject.strip() and not args.description.strip():
        raise TicketClassifierError("give --subject and/or --description (or --input and --output for a CSV file)")
    with TicketClassifierClient.from_settings(
        config.client, args.protocol, url=url, review_policy=config.review
    ) as client:
        prediction = client.classify(args.subject, args.description)
    print(json.dumps(prediction.to_dict(), indent=2) if args.json else format_prediction(prediction))


def _classify_file(args: argparse.Namespace, config, url: str) -> None:
    """Every row of the input CSV, with a progress bar and a closing summary."""
    from ticket_classifier.clients.async_client import AsyncTicketClassifierClient
    from ticket_classifier.clients.batch import classify_csv

    if not (args.input and args.output):
        raise TicketClassifierError("a CSV run needs both --input and --output")
    if Path(args.input).resolve() == Path(args.output).resolve():
        raise TicketClassifierError("--output must not be the --input file")
    output = Path(args.output)
    errors = Path(args.errors) if args.errors else output.with_name(output.stem + ".errors.csv")

    def client_factory() -> AsyncTicketClassifierClient:
        return AsyncTicketClassifierClient.from_settings(
            config.client, args.protocol, url=url, review_policy=config.review
        )

    summary = asyncio.run(
        classify_csv(
            Path(args.input),
            output,
            errors,
            client_factory,
            id_column=args.id_column,
            subject_column=args.subject_column,
            description_column=args.description_column,
            batch_size=args.batch_size,
            concurrency=args.concurrency,
            max_consecutive_failures=args.max_consecutive_failures,
        )
    )
    print("\n".join(summary.lines()))
    print(f"predictions: {output}" + (f"; failed rows with reasons: {errors}" if summary.failed else ""))
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
        f"model version: {prediction.model_version}"
    )
