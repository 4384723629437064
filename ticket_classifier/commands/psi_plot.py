"""PSI over time for an in-distribution and a drifted stream, from a real run (the README's plot).

Starts ``tritonserver`` on a built model repository (``make demo`` builds one), runs the drift
monitor in process against it, sends one stream of demo tickets and records the PSI after
every batch, restarts the server for the second stream, and plots both streams' PSI (count
window) against predictions served. Writes the PNG and the raw series as JSON.

    python -m ticket_classifier.commands.psi_plot --model-repository model_repository \\
        --output docs/images/psi_over_time.png
"""

import argparse
import json
import sys
from pathlib import Path

from ticket_classifier.clients.client import TicketClassifierClient
from ticket_classifier.errors import TicketClassifierError
from ticket_classifier.monitoring.drift_monitor import DriftMonitor
from ticket_classifier.monitoring.settings import DriftMonitorConfig
from ticket_classifier.server import ServerConfig, TritonServer
from ticket_classifier.training.demo_data import generate_tickets

STREAMS = {"in-distribution": False, "drifted": True}


def record_stream(repository: Path, drifted: bool, tickets: int, batch: int, count_window: int) -> list[dict]:
    """PSI (count window) after each batch of one stream, on a freshly started server."""
    stream = [(t.subject, t.description) for t in generate_tickets(tickets, seed=101, drifted=drifted)]
    config = ServerConfig.on_free_ports()
    points = []
    with TritonServer(repository, config) as server:
        monitor = DriftMonitor(
            DriftMonitorConfig(
                triton_url=server.http_url,
                triton_metrics_url=server.metrics_url,
                model_repository=str(repository),
                count_window=count_window,
                min_predictions=min(100, count_window),
            )
        )
        monitor.step()
        with TicketClassifierClient(server.grpc_url) as client:
            for start in range(0, len(stream), batch):
                client.classify_batch(stream[start : start + batch])
                values = monitor.step()
                points.append(
                    {
                        "predictions": start + batch,
                        "category": values[("category", "count")],
                        "confidence": values[("confidence", "count")],
                    }
                )
    return points


def plot(series: dict[str, list[dict]], warning: float, alert: float, path: Path) -> None:
    """Both streams' PSI against predictions served, with the warning and alert lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7.5, 4.2))
    styles = {"in-distribution": "tab:blue", "drifted": "tab:red"}
    for name, points in series.items():
        x = [point["predictions"] for point in points]
        axes.plot(x, [point["category"] for point in points], color=styles[name], label=f"{name}: category PSI")
        axes.plot(
            x,
            [point["confidence"] for point in points],
            color=styles[name],
            linestyle="--",
            label=f"{name}: confidence PSI",
        )
    axes.axhline(warning, color="orange", linewidth=0.8, label=f"warning {warning}")
    axes.axhline(alert, color="crimson", linewidth=0.8, label=f"alert {alert}")
    axes.set_xlabel("predictions served")
    axes.set_ylabel("PSI against the validation reference")
    axes.set_title("Drift monitor: PSI over the last predictions (count window)")
    axes.legend(fontsize=8, loc="center right")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)


def main(argv: list[str] | None = None) -> int:
    """Record both streams and write the plot and the data."""
    parser = argparse.ArgumentParser(prog="psi_plot", description=__doc__.splitlines()[0])
    parser.add_argument("--model-repository", default="model_repository")
    parser.add_argument("--output", default="docs/images/psi_over_time.png")
    parser.add_argument("--tickets", type=int, default=1200)
    parser.add_argument("--batch", type=int, default=40)
    parser.add_argument("--count-window", type=int, default=400)
    args = parser.parse_args(argv)
    if min(args.tickets, args.batch, args.count_window) < 1:
        print("error: --tickets, --batch and --count-window must be at least 1", file=sys.stderr)
        return 1
    try:
        series = {
            name: record_stream(Path(args.model_repository), drifted, args.tickets, args.batch, args.count_window)
            for name, drifted in STREAMS.items()
        }
    except TicketClassifierError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    defaults = DriftMonitorConfig()
    output = Path(args.output)
    plot(series, defaults.warning_psi, defaults.alert_psi, output)
    output.with_suffix(".json").write_text(json.dumps(series, indent=1) + "\n")
    for name, points in series.items():
        last = points[-1]
        print(
            f"{name}: after {last['predictions']} predictions PSI category {last['category']:.3f}, "
            f"confidence {last['confidence']:.3f}"
        )
    print(f"plot written to {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
