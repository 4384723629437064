"""One measured load level, and running a load generator as a child whose CPU use is counted."""

import os
import resource
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from ticket_classifier.errors import TicketClassifierError
from ticket_classifier.runtime.onnx_threads import available_cores


@dataclass
class LoadPoint:
    """Throughput and latency of one target at one concurrency, and what the generator itself cost."""

    target: str
    protocol: str
    concurrency: int
    throughput_per_s: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    requests: int
    errors: int
    generator: str
    generator_cpu_share: float  # of the cores this process may use, while it ran
    average_batch: float | None = None
    server_cpu_ms: dict[str, float] | None = None  # per request: Triton's own process, its model processes
    server_rss_mb: float | None = None  # Triton's process and its model processes, after the level

    def row(self) -> dict:
        """JSON-ready, rounded."""
        return {key: round(value, 3) if isinstance(value, float) else value for key, value in asdict(self).items()}


class LoadGenerator:
    """What both load generators share: a temporary folder for their input files, removed on close."""

    def __init__(self, prefix: str) -> None:
        self._folder = tempfile.TemporaryDirectory(prefix=prefix)
        self.folder = Path(self._folder.name)

    def close(self) -> None:
        """Remove the temporary files."""
        self._folder.cleanup()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


@dataclass
class ChildRun:
    """What a finished load-generator process printed, and its CPU share."""

    stdout: str
    stderr: str
    returncode: int
    cpu_share: float


def run_generator(command: list[str], *, env: dict[str, str] | None = None, timeout_s: float) -> ChildRun:
    """Run ``command`` to the end (killed after ``timeout_s``); its CPU share is its user + system time
    over its wall time and the cores this process may use.

    The CPU time is the growth of this process's reaped-children usage across the run, so load
    generators must run one at a time (the benchmark does); servers that are still running are
    not counted.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        stdout, stderr = process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise TicketClassifierError(f"{os.path.basename(command[0])} did not finish within {timeout_s:.0f} s") from None
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return ChildRun(stdout, stderr, process.returncode, cpu / wall / available_cores() if wall > 0 else 0.0)
