"""Serving benchmark: Triton against the machine's ceiling and the services a user would pick instead.

In one run, on the same tickets:

1. the **ceiling**: tokenizer + onnxruntime in-process, every process x thread split of the cores
   (:mod:`ticket_classifier.performance.ceiling`);
2. **Triton**: for each repository variant a repository is built from the same checkpoint and
   export and served by a fresh ``tritonserver``; ``perf_analyzer`` (C++) drives it over gRPC and
   HTTP at each concurrency; Triton's own counters give the average batch and where the
   milliseconds go per step (:mod:`ticket_classifier.performance.triton_profile`);
3. the **peers** (FastAPI + PyTorch FP32, FastAPI + onnxruntime INT8) as real HTTP services
   under ``wrk`` (C) at the same concurrencies;
4. the **ratios** the targets are stated in, printed and written with everything else as JSON.
"""

import datetime
import json
import os
import platform
import tempfile
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from ticket_classifier.build.gates import resolve_precision
from ticket_classifier.build.layout import onnx_filename
from ticket_classifier.build.model_configs import (
    DEFAULT_LENGTH_BUCKETS,
    FUSED_MIN_INSTANCES,
    THREE_STEP_LAYOUT,
    RepositoryOptions,
)
from ticket_classifier.build.repository import build_repository
from ticket_classifier.errors import TicketClassifierError
from ticket_classifier.performance import process_cpu, triton_profile
from ticket_classifier.performance.ceiling import measure_ceiling
from ticket_classifier.performance.load import LoadPoint
from ticket_classifier.performance.peers import PEERS, PeerService
from ticket_classifier.performance.perf_analyzer import PROTOCOLS, PerfAnalyzer
from ticket_classifier.performance.wrk import Wrk
from ticket_classifier.runtime import contract
from ticket_classifier.runtime.onnx_threads import available_cores
from ticket_classifier.server import ServerConfig, TritonServer

# Repository variants: changes to the configured options (``repository`` of --config).
VARIANTS = {
    "configured": {},
    "fp32": dict(precision="fp32"),
    "int8": dict(precision="int8"),
    "buckets": dict(length_buckets=list(DEFAULT_LENGTH_BUCKETS)),
    "no-buckets": dict(length_buckets=[]),
    "spinning": dict(onnx_thread_spinning=True),
    "no-warmup": dict(model_warmup=False),
    "fused": dict(fuse_steps=True, classifier_instances=FUSED_MIN_INSTANCES, onnx_intra_op_threads=0),
    "fused-all-cores": dict(fuse_steps=True, classifier_instances=FUSED_MIN_INSTANCES, onnx_intra_op_threads=-1),
    # The default before per-ticket calls: the fused step, two instances, one onnxruntime call per length bucket.
    "fused-batched": dict(
        fuse_steps=True,
        classifier_instances=FUSED_MIN_INSTANCES,
        onnx_intra_op_threads=-1,
        fused_onnx_calls=contract.BATCHED_CALLS,
    ),
    # The three-step ensemble: one classifier instance with every core's threads (the default until
    # tune preferred the fused pipeline), or one instance per core with one thread each.
    "three-steps": dict(THREE_STEP_LAYOUT),
    "instance-per-core": dict(fuse_steps=False, classifier_instances=0, onnx_intra_op_threads=1),
}
THROUGHPUT_LEVEL = 16  # the concurrency the throughput targets are stated at
WARMUP_CONCURRENCY = 4


@dataclass
class BenchmarkPlan:
    """What one run measures."""

    variants: list[str] = field(default_factory=lambda: ["configured"])
    concurrencies: list[int] = field(default_factory=lambda: [1, 4, 16, 64])
    protocols: list[str] = field(default_factory=lambda: list(PROTOCOLS))
    peers: list[str] = field(default_factory=lambda: list(PEERS))
    window_ms: int = 3000
    peer_seconds: float = 9.0
    ceiling_seconds: float = 8.0

    def __post_init__(self) -> None:
        for kind, names, known in (
            ("variant", self.variants, VARIANTS),
            ("protocol", self.protocols, PROTOCOLS),
            ("peer", self.peers, PEERS),
        ):
            unknown = [name for name in names if name not in known]
            if unknown:
                raise TicketClassifierError(f"unknown benchmark {kind}(s) {', '.join(unknown)} ({', '.join(known)})")
        if not self.variants or not self.concurrencies or not self.protocols:
            raise TicketClassifierError("a benchmark needs at least one variant, concurrency level and protocol")
        if min(self.concurrencies) < 1:
            raise TicketClassifierError("concurrency levels must be at least 1")
        if self.window_ms < 100 or self.peer_seconds < 1 or self.ceiling_seconds < 1:
            raise TicketClassifierError(
                "--window-ms must be at least 100, --peer-seconds and --ceiling-seconds at least 1"
            )


def variant_options(base: RepositoryOptions, name: str, onnx_dir: Path) -> RepositoryOptions:
    """The configured options with the variant's changes (``classifier_instances`` 0: one per core),
    the precision resolved as ``build-repository`` resolves it."""
    changes = dict(VARIANTS[name])
    if changes.get("classifier_instances") == 0:
        changes["classifier_instances"] = available_cores()
    try:
        options = replace(base, **changes)
    except ValueError as exc:
        raise TicketClassifierError(f"benchmark variant {name} does not fit the configured options: {exc}") from None
    return replace(options, precision=resolve_precision(onnx_dir, options.precision, options.device))


def measure_triton(
    checkpoint: Path,
    onnx_dir: Path,
    options: RepositoryOptions,
    name: str,
    plan: BenchmarkPlan,
    analyzer: PerfAnalyzer,
    report=print,
) -> list[dict]:
    """Build the variant's repository, serve it, and drive it at every protocol and concurrency."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="ticket-benchmark-") as folder:
        repository = Path(folder) / "repository"
        # Speed is measured whatever the model's quality: the quality gate is not this benchmark's.
        build_repository(checkpoint, onnx_dir, repository, options, allow_below_baseline=True)
        with TritonServer(repository, ServerConfig.on_free_ports()) as server:
            urls = {"grpc": server.grpc_url, "http": server.http_url}
            analyzer.measure(urls[plan.protocols[0]], plan.protocols[0], WARMUP_CONCURRENCY, name)
            for protocol in plan.protocols:
                for concurrency in plan.concurrencies:
                    before = triton_profile.snapshot(server.metrics_url)
                    cpu_before = process_cpu.snapshot(server.process.pid)
                    point = analyzer.measure(urls[protocol], protocol, concurrency, name)
                    cpu_after = process_cpu.snapshot(server.process.pid)
                    steps = triton_profile.profile(before, triton_profile.snapshot(server.metrics_url))
                    point.average_batch = steps.get(options.classifier_step, {}).get("average_batch")
                    served = steps.get(contract.ENSEMBLE, {}).get("requests", 0)
                    point.server_cpu_ms = process_cpu.per_request(cpu_before, cpu_after, served)
                    point.server_rss_mb = process_cpu.resident_mb(server.process.pid)
                    rows.append({**point.row(), "steps": steps})
                    report(format_point(point))
    return rows


def measure_peer(
    checkpoint: Path, onnx_dir: Path, precision: str, name: str, plan: BenchmarkPlan, wrk: Wrk, report=print
) -> list[dict]:
    """Start the peer service (an onnxruntime peer serves the export of ``precision``) and drive it with
    wrk at every concurrency."""
    peer = PEERS[name]
    target = f"{name}-{precision}" if peer.engine == "onnxruntime" else name
    rows = []
    with PeerService(peer, checkpoint, onnx_dir / onnx_filename(precision)) as service:
        wrk.measure(service.url, WARMUP_CONCURRENCY, target, seconds=2)
        for concurrency in plan.concurrencies:
            point = wrk.measure(service.url, concurrency, target)
            rows.append(point.row())
            report(format_point(point))
    return rows


def measure_other_model(
    checkpoint: Path, onnx_dir: Path, base: RepositoryOptions, plan: BenchmarkPlan, analyzer, tickets, report=print
) -> dict:
    """Another model (a distilled student, say) under the first variant's options: its ceiling and its
    served load points, named after its checkpoint folder."""
    options = variant_options(base, plan.variants[0], onnx_dir)
    report(f"{checkpoint}: ceiling ({options.precision} in-process)")
    ceiling = measure_ceiling(checkpoint, onnx_dir / onnx_filename(options.precision), tickets, plan.ceiling_seconds)
    report(format_ceiling(ceiling))
    served = measure_triton(checkpoint, onnx_dir, options, checkpoint.name, plan, analyzer, report)
    return {"checkpoint": str(checkpoint), "precision": options.precision, "ceiling": ceiling, "served": served}


def run_benchmark(
    checkpoint: "str | Path",
    onnx_dir: "str | Path",
    tickets: list[tuple[str, str]],
    plan: BenchmarkPlan,
    *,
    base: RepositoryOptions | None = None,
    others: "list[tuple[Path, Path]]" = (),
    report=print,
) -> dict:
    """Ceiling, Triton variants, the ``others`` models (checkpoint, export folder) and peers, measured in
    this order in one run; the results with ratios."""
    checkpoint, onnx_dir = Path(checkpoint), Path(onnx_dir)
    base = base or RepositoryOptions()
    reference_options = variant_options(base, plan.variants[0], onnx_dir)
    bodies = [{"subject": subject, "description": description} for subject, description in tickets]
    # Both load generators are located first: a missing one fails the run before anything is measured.
    with PerfAnalyzer(tickets, window_ms=plan.window_ms) as analyzer, Wrk(bodies, seconds=plan.peer_seconds) as wrk:
        report(
            f"ceiling: tokenizer + onnxruntime {reference_options.precision} in-process, "
            f"{plan.ceiling_seconds:g} s per split"
        )
        ceiling = measure_ceiling(
            checkpoint, onnx_dir / onnx_filename(reference_options.precision), tickets, plan.ceiling_seconds
        )
        report(format_ceiling(ceiling))
        report(header())
        served = []
        for name in plan.variants:
            options = variant_options(base, name, onnx_dir)
            served += measure_triton(checkpoint, onnx_dir, options, name, plan, analyzer, report)
        compared = [
            measure_other_model(Path(other), Path(other_onnx), base, plan, analyzer, tickets, report)
            for other, other_onnx in others
        ]
        peers = []
        for name in plan.peers:
            peers += measure_peer(checkpoint, onnx_dir, reference_options.precision, name, plan, wrk, report)
    results = {
        "ceiling": ceiling,
        "served": served,
        "peers": peers,
        "ratios": ratios(ceiling, served, peers, plan.variants[0], plan.protocols[0]),
        "compared": [{**model, "ratios": model_ratios(served, model, plan)} for model in compared],
        "options": {name: asdict(variant_options(base, name, onnx_dir)) for name in plan.variants},
    }
    return results


def _point(rows: list[dict], target: str, concurrency: int, protocol: str | None = None) -> dict | None:
    return next(
        (
            row
            for row in rows
            if row["target"] == target and row["concurrency"] == concurrency and protocol in (None, row["protocol"])
        ),
        None,
    )


def ratios(ceiling: dict, served: list[dict], peers: list[dict], variant: str, protocol: str) -> dict:
    """The figures the targets are stated in, for ``variant`` over ``protocol`` (None where a level was not run)."""
    result = {"variant": variant, "protocol": protocol}
    loaded = _point(served, variant, THROUGHPUT_LEVEL, protocol)
    single = _point(served, variant, 1, protocol)
    level = THROUGHPUT_LEVEL
    result[f"served_over_ceiling_at_{level}"] = (
        round(loaded["throughput_per_s"] / ceiling["texts_per_s"], 3) if loaded else None
    )
    result["p50_over_in_process_at_1_ms"] = (
        round(single["p50_ms"] - ceiling["single_request_p50_ms"], 2) if single else None
    )
    # CPU per request: the cores' time spent per text by the ceiling's best split, against what the
    # server's own process and its model processes spent per request at the loaded level.
    result["ceiling_cpu_ms_per_text"] = round(available_cores() * 1000 / ceiling["texts_per_s"], 2)
    result[f"server_cpu_ms_per_request_at_{level}"] = loaded.get("server_cpu_ms") if loaded else None
    for peer in {row["target"] for row in peers}:
        other = _point(peers, peer, THROUGHPUT_LEVEL)
        if loaded and other:
            result[f"throughput_over_{peer}_at_{level}"] = round(
                loaded["throughput_per_s"] / other["throughput_per_s"], 2
            )
            result[f"p99_ms_vs_{peer}_at_{level}"] = [loaded["p99_ms"], other["p99_ms"]]
    return result


def model_ratios(served: list[dict], model: dict, plan: BenchmarkPlan) -> dict:
    """Another model's throughput over the benchmarked one's, in-process and served at the loaded level."""
    reference = _point(served, plan.variants[0], THROUGHPUT_LEVEL, plan.protocols[0])
    other = _point(model["served"], Path(model["checkpoint"]).name, THROUGHPUT_LEVEL, plan.protocols[0])
    return {
        f"served_throughput_over_reference_at_{THROUGHPUT_LEVEL}": round(
            other["throughput_per_s"] / reference["throughput_per_s"], 2
        )
        if reference and other
        else None,
        "served_over_own_ceiling": round(other["throughput_per_s"] / model["ceiling"]["texts_per_s"], 3)
        if other
        else None,
    }


def header() -> str:
    """The column heads of the load table."""
    return (
        f"{'target':<26} {'proto':<5} {'conc':>4} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} "
        f"{'batch':>6} {'err':>4} {'gen CPU':>7} {'CPU ms/req: server+models':>25}"
    )


def format_point(point: LoadPoint) -> str:
    """One row of the load table."""
    batch = f"{point.average_batch:6.2f}" if point.average_batch is not None else f"{'-':>6}"
    cpu = point.server_cpu_ms
    server_cpu = f"{cpu['front_end']:.1f}+{cpu['models']:.1f}" if cpu else "-"
    return (
        f"{point.target:<26} {point.protocol:<5} {point.concurrency:>4} {point.throughput_per_s:>8.1f} "
        f"{point.p50_ms:>8.1f} {point.p95_ms:>8.1f} {point.p99_ms:>8.1f} {batch} {point.errors:>4} "
        f"{point.generator_cpu_share:>6.1%} {server_cpu:>25}"
    )


def format_ceiling(ceiling: dict) -> str:
    """The ceiling's splits, one line each."""
    lines = [f"{'split':<6} {'texts/s':>8} {'p50 ms':>8} {'p99 ms':>8}"]
    lines += [
        f"{row['split']:<6} {row['texts_per_s']:>8.1f} {row['p50_ms']:>8.2f} {row['p99_ms']:>8.2f}"
        for row in ceiling["splits"]
    ]
    return "\n".join(lines)


def format_profile(rows: list[dict], variant: str, concurrency: int, protocol: str) -> str:
    """Milliseconds per request in each Triton model at one load point."""
    row = _point(rows, variant, concurrency, protocol)
    if row is None:
        return ""
    heads = f"{'model':<32} {'batch':>6} {'queue':>7} {'input':>7} {'infer':>7} {'output':>7} {'total':>7}"
    lines = [f"{heads}  (ms per request, {variant}, {protocol}, concurrency {concurrency})"]
    for model, step in sorted(row["steps"].items()):
        lines.append(
            f"{model:<32} {step['average_batch']:>6.2f} {step['queue_ms']:>7.2f} {step['compute_input_ms']:>7.2f} "
            f"{step['compute_infer_ms']:>7.2f} {step['compute_output_ms']:>7.2f} {step['request_ms']:>7.2f}"
        )
    return "\n".join(lines)


def format_ratios(result: dict) -> str:
    """The ratios, in words."""
    lines = [f"ratios ({result['variant']}, {result['protocol']}):"]
    for key, value in result.items():
        if key not in ("variant", "protocol"):
            lines.append(f"  {key}: {value}")
    return "\n".join(lines)


def write_results(path: "str | Path", results: dict, command: str) -> Path:
    """The JSON result file: everything measured, and how and where."""
    output = Path(path)
    output.parent.mkdir(parents=True, exist_ok=True)
    context = {
        "command": command,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {available_cores()} of {os.cpu_count()} CPUs, {platform.platform()}",
    }
    output.write_text(json.dumps({"context": context, **results}, indent=1) + "\n", encoding="utf-8")
    return output
