"""Triton's own load generator, ``perf_analyzer`` (C++), against the served ensemble.

The binary comes from the ``tritonclient`` wheel (2.51 is the server's release; wheels up to
2.60 carry one), installed apart from the project's own ``tritonclient`` with
``make install`` (``pip install --no-deps --target .perf-tools tritonclient==<release>``, the
release in the Makefile's ``PERF_ANALYZER_RELEASE``).
It needs two libraries that the ``nvidia-pytriton`` wheel bundles under hashed names; they are
linked under their plain names into a temporary folder on its ``LD_LIBRARY_PATH``.
"""

import csv
import json
import os
import shutil
from pathlib import Path

from ticket_classifier.errors import TicketClassifierError
from ticket_classifier.performance.load import LoadGenerator, LoadPoint, run_generator
from ticket_classifier.runtime.contract import ENSEMBLE, TEXT_INPUTS
from ticket_classifier.server import TritonInstallation

ENVIRONMENT_VARIABLE = "TICKET_CLASSIFIER_PERF_ANALYZER"
DEFAULT_LOCATION = Path(".perf-tools") / "bin" / "perf_analyzer"
INSTALL_HINT = (
    "run `make install` (it installs the tritonclient wheel of the server's release into .perf-tools/), "
    f"or set ${ENVIRONMENT_VARIABLE} to the binary"
)
# name the binary asks for -> the start of the name it has in nvidia_pytriton.libs
LIBRARIES = {"libb64.so.0d": "libb64-", "libcudart.so.12": "libcudart-"}
# Stability across perf_analyzer's measurement windows is reported by the spread of repeated
# runs, not enforced: on a shared 2-core machine a strict check never settles.
STABILITY_PERCENTAGE = 10_000  # 100x: never refuse a window for its spread
PROTOCOLS = ("grpc", "http")


def locate() -> Path:
    """The perf_analyzer binary: ``$TICKET_CLASSIFIER_PERF_ANALYZER``, ``.perf-tools/`` here, or ``PATH``."""
    candidates = [os.environ.get(ENVIRONMENT_VARIABLE), str(DEFAULT_LOCATION), shutil.which("perf_analyzer")]
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return Path(candidate).resolve()
    raise TicketClassifierError(f"perf_analyzer not found: {INSTALL_HINT}")


def link_libraries(folder: Path) -> Path:
    """Link the two libraries perf_analyzer needs, under the names it asks for, into ``folder``."""
    bundled = TritonInstallation.locate().libraries
    for name, prefix in LIBRARIES.items():
        matches = sorted(bundled.glob(f"{prefix}*"))
        if not matches:
            raise TicketClassifierError(f"{bundled} has no {prefix}* library, which perf_analyzer needs")
        (folder / name).symlink_to(matches[0])
    return folder


def write_input_data(tickets: list[tuple[str, str]], path: Path) -> Path:
    """perf_analyzer's ``--input-data`` file: one request per ticket, cycled through in order."""
    entries = [
        {name: {"content": [value], "shape": [1]} for name, value in zip(TEXT_INPUTS, ticket)} for ticket in tickets
    ]
    path.write_text(json.dumps({"data": entries}), encoding="utf-8")
    return path


class PerfAnalyzer(LoadGenerator):
    """Runs perf_analyzer at one concurrency at a time against a served ensemble."""

    def __init__(self, tickets: list[tuple[str, str]], *, window_ms: int = 3000) -> None:
        self.binary = locate()
        super().__init__("perf-analyzer-")
        self.window_ms = window_ms
        self.environment = dict(os.environ, LD_LIBRARY_PATH=str(link_libraries(self.folder)))
        self.input_data = write_input_data(tickets, self.folder / "input.json")
        self.csv_path = self.folder / "result.csv"

    def measure(self, url: str, protocol: str, concurrency: int, target: str) -> LoadPoint:
        """Closed-loop load: ``concurrency`` requests in flight, over three measurement windows."""
        if protocol not in PROTOCOLS:
            raise TicketClassifierError(f"protocol must be one of {', '.join(PROTOCOLS)}, got {protocol!r}")
        self.csv_path.unlink(missing_ok=True)
        command = [
            str(self.binary),
            "-m",
            ENSEMBLE,
            "-u",
            url,
            "-i",
            protocol,
            "--input-data",
            str(self.input_data),
            "--concurrency-range",
            str(concurrency),
            "--measurement-interval",
            str(self.window_ms),
            "--stability-percentage",
            str(STABILITY_PERCENTAGE),
            "-f",
            str(self.csv_path),
        ]
        run = run_generator(command, env=self.environment, timeout_s=self.window_ms / 1000 * 20 + 60)
        if run.returncode != 0 or not self.csv_path.is_file():
            tail = (run.stdout + run.stderr).strip().splitlines()[-8:]
            raise TicketClassifierError(f"perf_analyzer failed at concurrency {concurrency}: " + " | ".join(tail))
        return parse_result(self.csv_path, run.stdout, target=target, protocol=protocol, cpu_share=run.cpu_share)


def parse_result(csv_path: Path, stdout: str, *, target: str, protocol: str, cpu_share: float) -> LoadPoint:
    """The load point of perf_analyzer's CSV (latencies in microseconds) and its printed request count."""
    with csv_path.open(newline="") as handle:
        row = next(csv.DictReader(handle))
    requests = next(
        (int(line.split(":")[1]) for line in stdout.splitlines() if line.strip().startswith("Request count:")), 0
    )
    return LoadPoint(
        target=target,
        protocol=protocol,
        concurrency=int(row["Concurrency"]),
        throughput_per_s=float(row["Inferences/Second"]),
        p50_ms=int(row["p50 latency"]) / 1000,
        p95_ms=int(row["p95 latency"]) / 1000,
        p99_ms=int(row["p99 latency"]) / 1000,
        requests=requests,
        errors=0,  # perf_analyzer stops at the first failed request: a finished run had none
        generator="perf_analyzer",
        generator_cpu_share=cpu_share,
    )
