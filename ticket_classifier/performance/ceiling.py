"""The machine's ceiling for this model: tokenizer + onnxruntime in-process, one text per call.

No server, no network, no batching across requests: what one or more plain Python processes
reach on the same texts, with the cores split between processes and onnxruntime threads in
every way that divides them (1 process x all cores ... one process per core). The best split
is the ceiling a server on this machine is measured against; the single-process, all-cores
split also gives the in-process latency of one request.
"""

import multiprocessing
import time
from dataclasses import dataclass
from pathlib import Path
from queue import Empty

import numpy as np

from ticket_classifier.errors import TicketClassifierError
from ticket_classifier.runtime.onnx_threads import available_cores, spinning_entries
from ticket_classifier.runtime.text import join_ticket_text
from ticket_classifier.runtime.tokenization import TicketTokenizer

WARMUP_CALLS = 10
STARTUP_TIMEOUT_S = 300  # loading the model in every process


@dataclass(frozen=True)
class Split:
    """Processes x onnxruntime threads per process."""

    processes: int
    threads: int

    @property
    def name(self) -> str:
        """For example ``2x1``."""
        return f"{self.processes}x{self.threads}"


def splits(cores: int | None = None) -> list[Split]:
    """Every way of dividing the cores between processes and threads."""
    cores = cores or available_cores()
    return [Split(processes, cores // processes) for processes in range(1, cores + 1) if cores % processes == 0]


def _worker(checkpoint: str, onnx_path: str, texts: list[str], threads: int, spinning: bool, *, seconds, start, queue):
    """One process of a split: calls until ``seconds`` after the common start; puts its latencies."""
    import onnxruntime as ort

    tokenizer = TicketTokenizer.from_directory(checkpoint)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    for key, value in spinning_entries(spinning).items():
        options.add_session_config_entry(key, value)
    session = ort.InferenceSession(onnx_path, options, providers=["CPUExecutionProvider"])
    for text in texts[:WARMUP_CALLS]:
        session.run(None, tokenizer.encode([text]))
    start.wait()
    latencies, index = [], 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        began = time.perf_counter()
        session.run(None, tokenizer.encode([texts[index % len(texts)]]))
        latencies.append(time.perf_counter() - began)
        index += 1
    queue.put(latencies)


def measure_split(
    checkpoint: Path, onnx_path: Path, tickets: list[tuple[str, str]], split: Split, seconds: float
) -> dict:
    """Texts per second of all processes together, and the per-call latency percentiles.

    Every process gets all the texts, each starting at its own offset. A process that fails (a
    model that will not load, say) fails the measurement at once, and none is left behind.
    """
    if not Path(onnx_path).is_file():
        raise TicketClassifierError(f"ONNX model not found: {onnx_path} (export that precision first)")
    texts = [join_ticket_text(ticket) for ticket in tickets]
    context = multiprocessing.get_context("spawn")
    start, queue = context.Barrier(split.processes, timeout=STARTUP_TIMEOUT_S), context.Queue()
    spinning = split.processes == 1  # a lone process has the cores to itself
    stride = max(1, len(texts) // split.processes)
    processes = [
        context.Process(
            target=_worker,
            args=(str(checkpoint), str(onnx_path), _rotated(texts, index * stride), split.threads, spinning),
            kwargs={"seconds": seconds, "start": start, "queue": queue},
            daemon=True,
        )
        for index in range(split.processes)
    ]
    results = []
    try:
        for process in processes:
            process.start()
        deadline = time.monotonic() + STARTUP_TIMEOUT_S + seconds
        while len(results) < len(processes):
            try:
                results.append(queue.get(timeout=1))
            except Empty:
                failed = [process.exitcode for process in processes if process.exitcode not in (None, 0)]
                if failed or time.monotonic() > deadline:
                    raise TicketClassifierError(
                        f"the in-process ceiling ({split.name}) failed: a worker exited with {failed or 'no result'}"
                    ) from None
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()
            process.join(timeout=10)
    latencies = np.concatenate([np.array(result) for result in results]) * 1000
    return {
        "split": split.name,
        "processes": split.processes,
        "threads": split.threads,
        "spinning": spinning,
        "texts_per_s": round(len(latencies) / seconds, 1),
        "p50_ms": round(float(np.percentile(latencies, 50)), 2),
        "p99_ms": round(float(np.percentile(latencies, 99)), 2),
    }


def _rotated(texts: list[str], offset: int) -> list[str]:
    """``texts`` starting at ``offset`` (wrapping around)."""
    offset %= len(texts)
    return texts[offset:] + texts[:offset]


def measure_ceiling(checkpoint: Path, onnx_path: Path, tickets: list[tuple[str, str]], seconds: float) -> dict:
    """Every split; the best throughput and the single-request latency (one process, all cores)."""
    rows = [measure_split(checkpoint, onnx_path, tickets, split, seconds) for split in splits()]
    best = max(rows, key=lambda row: row["texts_per_s"])
    return {
        "splits": rows,
        "best_split": best["split"],
        "texts_per_s": best["texts_per_s"],
        "single_request_p50_ms": rows[0]["p50_ms"],
    }
