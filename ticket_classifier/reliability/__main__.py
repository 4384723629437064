"""``python -m ticket_classifier.reliability`` (``make reliability``): every scenario once, a table, and JSON.

Runs against a built repository (``make demo`` builds ``model_repository/``), on loopback
only, bounded in time (about five minutes on two cores with the demo model).
"""

import argparse
import datetime
import json
import os
import platform
import sys
from pathlib import Path

from ticket_classifier.errors import TicketClassifierError
from ticket_classifier.reliability import scenarios
from ticket_classifier.server import ServerConfig, TritonServer


def main(argv: list[str] | None = None) -> int:
    """Run the scenarios; print each figure and write them as JSON."""
    parser = argparse.ArgumentParser(prog="python -m ticket_classifier.reliability", description=__doc__)
    parser.add_argument("--model-repository", default="model_repository", help="a built repository (make demo)")
    parser.add_argument("--soak-seconds", type=float, default=60.0, help="length of the soak (default 60)")
    parser.add_argument("--concurrency", type=int, default=64, help="clients of the soak (default 64)")
    parser.add_argument("--output", default="artifacts/reliability/reliability.json", help="JSON result file")
    args = parser.parse_args(argv)
    if args.soak_seconds <= 0 or args.concurrency < 1:
        print("error: --soak-seconds must be positive and --concurrency at least 1", file=sys.stderr)
        return 1
    repository = Path(args.model_repository)
    results = {}
    try:
        with TritonServer(repository, ServerConfig.on_free_ports()) as server:
            results["bad requests"] = _report("bad requests", scenarios.bad_requests(server))
            results["soak"] = _report("soak", scenarios.soak(server, args.soak_seconds, args.concurrency))
            results["oversized tickets"] = _report("oversized tickets", scenarios.oversized_tickets(server))
            results["sidecar receivers"] = _report("sidecar receivers", scenarios.sidecar_receivers(server, repository))
        results["JSON body over 4 MB"] = _report("JSON body over 4 MB", scenarios.json_body_crash(repository))
        results["stub kill"] = _report("stub kill", scenarios.stub_kill(repository))
        results["server kill"] = _report("server kill", scenarios.server_kill(repository))
        results["corrupt rollout"] = _report("corrupt rollout", scenarios.corrupt_rollout(repository))
    except TicketClassifierError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    context = {
        "command": " ".join(["python -m ticket_classifier.reliability", *(argv or sys.argv[1:])]),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "soak": {"seconds": args.soak_seconds, "concurrency": args.concurrency},
    }
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps({"context": context, "results": results}, indent=1) + "\n", encoding="utf-8")
    print(f"written to {output}")
    return 0


def _report(name: str, figures: dict) -> dict:
    """Print one scenario's figures as they come."""
    print(f"{name}: {json.dumps(figures)}", flush=True)
    return figures


if __name__ == "__main__":
    sys.exit(main())
