"""Serving benchmark: repository variants compared in one run on a real tritonserver.

For each variant (precision, length bucketing, batcher queue delay) a repository is built
from the same checkpoint and export, a server is started, and single-ticket gRPC requests
are sent at each concurrency level. Reported per level: throughput, latency percentiles and
the classifier's average batch size from Triton's own counters
(``nv_inference_count / nv_inference_exec_count``). Prints a table and writes JSON.
"""

import json
import re
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ticket_classifier.build.model_configs import RepositoryOptions
from ticket_classifier.build.repository import build_repository
from ticket_classifier.errors import TicketClassifierError
from ticket_classifier.runtime.contract import CLASSIFIER
from ticket_classifier.server import ServerConfig, TritonServer

VARIANTS = {
    "fp32": RepositoryOptions(),
    "fp32-no-buckets": RepositoryOptions(length_buckets=[]),
    "fp32-delay-2ms": RepositoryOptions(max_queue_delay_microseconds=2000),
    "int8": RepositoryOptions(precision="int8"),
    "fp16": RepositoryOptions(precision="fp16"),
}


@dataclass
class LoadResult:
    """One concurrency level of one variant."""

    variant: str
    concurrency: int
    requests: int
    errors: int
    seconds: float
    latencies_ms: list[float]
    average_batch_size: float

    def row(self) -> dict:
        """JSON-ready summary."""
        latencies = np.array(self.latencies_ms) if self.latencies_ms else np.array([float("nan")])
        return {
            "variant": self.variant,
            "concurrency": self.concurrency,
            "requests": self.requests,
            "errors": self.errors,
            "throughput_per_s": round(self.requests / self.seconds, 1),
            "latency_p50_ms": round(float(np.percentile(latencies, 50)), 1),
            "latency_p95_ms": round(float(np.percentile(latencies, 95)), 1),
            "latency_p99_ms": round(float(np.percentile(latencies, 99)), 1),
            "classifier_average_batch_size": round(self.average_batch_size, 2),
        }


def inference_counters(metrics_url: str, model: str) -> tuple[float, float]:
    """``(nv_inference_count, nv_inference_exec_count)`` of ``model``, summed over versions."""
    with urllib.request.urlopen(metrics_url, timeout=5) as response:
        text = response.read().decode()
    totals = []
    for metric in ("nv_inference_count", "nv_inference_exec_count"):
        pattern = re.compile(rf'^{metric}{{[^}}]*model="{model}"[^}}]*}} ([0-9.e+]+)$', re.MULTILINE)
        totals.append(sum(float(value) for value in pattern.findall(text)))
    return totals[0], totals[1]


def send_load(server: TritonServer, tickets: list[tuple[str, str]], concurrency: int, requests: int) -> LoadResult:
    """``requests`` single-ticket requests from ``concurrency`` threads, each with its own gRPC client."""
    from ticket_classifier.clients.client import TicketClassifierClient

    latencies, errors, lock = [], [], threading.Lock()
    counter = iter(range(requests))

    def worker() -> None:
        with TicketClassifierClient(server.grpc_url, protocol="grpc") as client:
            for index in counter:
                started = time.perf_counter()
                try:
                    client.classify(*tickets[index % len(tickets)])
                except TicketClassifierError as exc:
                    with lock:
                        errors.append(str(exc))
                    continue
                with lock:
                    latencies.append((time.perf_counter() - started) * 1000)

    before = inference_counters(server.metrics_url, CLASSIFIER)
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    after = inference_counters(server.metrics_url, CLASSIFIER)
    executions = after[1] - before[1]
    return LoadResult(
        variant="",
        concurrency=concurrency,
        requests=requests,
        errors=len(errors),
        seconds=seconds,
        latencies_ms=latencies,
        average_batch_size=(after[0] - before[0]) / executions if executions else 0.0,
    )


def run_benchmark(
    checkpoint: str,
    onnx_dir: str,
    tickets: list[tuple[str, str]],
    *,
    variants: list[str],
    concurrencies: list[int],
    requests: int,
    base: RepositoryOptions | None = None,
) -> list[dict]:
    """Every variant at every concurrency level; returns the summary rows."""
    unknown = [name for name in variants if name not in VARIANTS]
    if unknown:
        raise TicketClassifierError(f"unknown benchmark variant(s) {', '.join(unknown)} ({', '.join(VARIANTS)})")
    rows = []
    for name in variants:
        options = replace(VARIANTS[name], max_batch_size=(base or RepositoryOptions()).max_batch_size)
        with tempfile.TemporaryDirectory(prefix="ticket-benchmark-") as folder:
            # Throughput is measured whatever the model's quality: the quality gate is not this benchmark's.
            build_repository(checkpoint, onnx_dir, Path(folder) / "repository", options, allow_below_baseline=True)
            config = ServerConfig.on_free_ports()
            with TritonServer(Path(folder) / "repository", config) as server:
                send_load(server, tickets, concurrency=4, requests=40)  # warm-up
                for concurrency in concurrencies:
                    result = send_load(server, tickets, concurrency, requests)
                    result.variant = name
                    rows.append(result.row())
                    print(format_rows(rows[-1:], header=len(rows) == 1), flush=True)
    return rows


def format_rows(rows: list[dict], header: bool = True) -> str:
    """The benchmark table (optionally without its header)."""
    lines = []
    if header:
        columns = ("conc", 5), ("req/s", 8), ("p50 ms", 8), ("p95 ms", 8), ("p99 ms", 8), ("batch", 6), ("err", 4)
        lines.append(f"{'variant':<16} " + " ".join(f"{name:>{width}}" for name, width in columns))
    for row in rows:
        lines.append(
            f"{row['variant']:<16} {row['concurrency']:>5} {row['throughput_per_s']:>8.1f} "
            f"{row['latency_p50_ms']:>8.1f} {row['latency_p95_ms']:>8.1f} {row['latency_p99_ms']:>8.1f} "
            f"{row['classifier_average_batch_size']:>6.2f} {row['errors']:>4}"
        )
    return "\n".join(lines)


def write_results(path: str, rows: list[dict], context: dict) -> Path:
    """The JSON result file: the rows and how they were produced."""
    output = Path(path)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps({"context": context, "results": rows}, indent=1) + "\n")
    return output
