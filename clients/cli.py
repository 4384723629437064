"""``ticket-classifier classify``: one ticket from the command line."""

import argparse
import json
from pathlib import Path

from ticket_classifier.clients.prediction import Prediction
from ticket_classifier.errors import TicketClassifierError

DEFAULT_CONFIG = "configs/production.yaml"


def add_classify_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of the ``classify`` command."""
    parser.add_argument("--subject", default="", help="ticket subject")
    parser.add_argument("--description", default="", help="ticket description")
    parser.add_argument("--url", help="server address host:port (default from the production config)")
    parser.add_argument("--protocol", choices=["grpc", "http"], default="grpc", help="default grpc")
    parser.add_argument(
        "--config", help=f"production YAML with the review policy and URLs (default {DEFAULT_CONFIG} if present)"
    )
    parser.add_argument("--json", action="store_true", help="print the prediction as JSON")


def classify_command(args: argparse.Namespace) -> None:
    """Classify the ticket given on the command line and print the result."""
    from ticket_classifier.clients.client import TicketClassifierClient
    from ticket_classifier.production import ProductionConfig, load_production_config

    if not args.subject.strip() and not args.description.strip():
        raise TicketClassifierError("give --subject and/or --description")
    if args.config or Path(DEFAULT_CONFIG).is_file():
        config = load_production_config(args.config or DEFAULT_CONFIG)
    else:
        config = ProductionConfig()
    url = args.url or (config.client.grpc_url if args.protocol == "grpc" else config.client.http_url)
    with TicketClassifierClient(
        url, protocol=args.protocol, review_policy=config.review, timeout_s=config.client.timeout_s
    ) as client:
        prediction = client.classify(args.subject, args.description)
    print(json.dumps(prediction.to_dict(), indent=2) if args.json else format_prediction(prediction))


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
