"""How long importing a client takes, in fresh interpreters (the thin client's promise: well under a second).

    python -m ticket_classifier.clients.import_benchmark [--runs 10] [--output FILE.json]

Each run starts a new Python process that imports the client module and builds a client
(which imports ``tritonclient`` for its protocol); the table shows the median and the worst.
"""

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

SYNC = "from ticket_classifier.clients.client import TicketClassifierClient as C\n"
ASYNC = "from ticket_classifier.clients.async_client import AsyncTicketClassifierClient as C\n"
CASES = {
    "sync gRPC": SYNC + "C('localhost:1').close()",
    "sync HTTP": SYNC + "C('localhost:1', protocol='http').close()",
    "asyncio gRPC": ASYNC + "C('localhost:1')",
    "asyncio HTTP": (
        "import asyncio\n" + ASYNC + "async def main():\n    await C('localhost:1', protocol='http').close()\n"
        "asyncio.run(main())"
    ),
}
TIMER = "import time\nstarted = time.perf_counter()\n{code}\nprint(time.perf_counter() - started)"


def measure(code: str, runs: int) -> list[float]:
    """Seconds per run of ``code`` in a fresh interpreter (interpreter start-up excluded)."""
    return [
        float(
            subprocess.run(
                [sys.executable, "-c", TIMER.format(code=code)], capture_output=True, text=True, check=True
            ).stdout
        )
        for _ in range(runs)
    ]


def main(argv: list[str] | None = None) -> int:
    """Print the table and write the JSON."""
    parser = argparse.ArgumentParser(prog="import_benchmark", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--output", default="artifacts/benchmarks/client_import.json")
    args = parser.parse_args(argv)
    results = {name: measure(code, args.runs) for name, code in CASES.items()}
    print(f"{'client':<14} {'median s':>9} {'max s':>7}")
    for name, seconds in results.items():
        print(f"{name:<14} {statistics.median(seconds):>9.3f} {max(seconds):>7.3f}")
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps({"runs": args.runs, "seconds": results}, indent=1) + "\n")
    print(f"written to {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
