"""``serve`` and ``drift-monitor``: the processes that run beside a model repository."""

import argparse

from ticket_classifier.commands.flags import PRODUCTION_CONFIG_HELP, with_flags


def add_parsers(commands: argparse._SubParsersAction) -> None:
    """Register this group's commands."""
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
        "--log-file",
        help="Triton's log, appended to and kept after the stop (default: server.log_file, tritonserver.log of the "
        'current folder; "": a temporary one, removed at the stop); give each server started from one folder its own',
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

    command = commands.add_parser("drift-monitor", help="the PSI drift sidecar: scrape Triton, expose metrics")
    command.add_argument("--config", help=PRODUCTION_CONFIG_HELP)
    command.add_argument("--port", type=int, help="port of the sidecar's /metrics and /healthz (default 8003)")
    command.add_argument("--bind-address", help="address of that port (default: monitoring.bind_address, 127.0.0.1)")
    command.add_argument(
        "--triton-url", help="Triton's HTTP address: host:port or https://... (default localhost:8000)"
    )
    command.add_argument("--triton-metrics-url", help="Triton's metrics URL (default http://localhost:8002/metrics)")
    command.add_argument(
        "--model-repository",
        help="repository whose active version gives the reference (default: monitoring.model_repository)",
    )
    command.add_argument(
        "--reference", help="a fixed drift_reference.json instead (default: monitoring.reference, none)"
    )
    command.add_argument("--scrape-interval", type=float, help="seconds between scrapes (default 15)")
    command.epilog = (
        "The webhook URL (it may hold a token) comes from monitoring.webhook_url or $TICKET_CLASSIFIER_WEBHOOK_URL."
    )
    command.set_defaults(handler=_drift_monitor)


def _serve(args: argparse.Namespace) -> None:
    from ticket_classifier.commands.production import production_config
    from ticket_classifier.supervisor import serve_forever

    config = with_flags(
        production_config(args.config)[0].server,
        args,
        ("http_port", "grpc_port", "metrics_port", "health_port", "log_file", "bind_address", "http_bind_address"),
    )
    serve_forever(args.model_repository, config)


def _drift_monitor(args: argparse.Namespace) -> None:
    import signal
    import threading

    from ticket_classifier.commands.production import production_config
    from ticket_classifier.monitoring.drift_monitor import DriftMonitor

    config = with_flags(
        production_config(args.config)[0].monitoring,
        args,
        ("port", "bind_address", "triton_url", "triton_metrics_url", "model_repository", "reference"),
        scrape_interval="scrape_interval_s",
    )
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
