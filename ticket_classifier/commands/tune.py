"""``ticket-classifier tune``: try serving options on this machine and model, keep the best.

The role Triton Model Analyzer plays for the NGC server (it does not run against this pip
server's Python-backend models), built on the same tools as ``benchmark-serving``: each
candidate repository is built from the user's checkpoint and export, served by a fresh
``tritonserver`` and driven by ``perf_analyzer`` over gRPC at concurrency 1 and at the loaded
level. Candidates split the cores between classifier instances and onnxruntime threads, with
length buckets on or off, thread spinning on or off (a lone instance only), and with the
Python-backend classifier the three steps or the fused pipeline (``fuse_steps``, with one
onnxruntime call per ticket or batched calls, ``fused_onnx_calls``). The best
candidate has the highest loaded throughput among those whose concurrency-1 p50 is within
``latency_slack`` of the fastest; it is written as a production YAML (the configured file with
its ``repository`` section changed) beside the table it was chosen from.
"""

import argparse
import itertools
import json
import sys
from dataclasses import replace
from pathlib import Path

import yaml

from ticket_classifier.commands.flags import PRODUCTION_CONFIG_HELP, add_load_test_inputs, comma_list
from ticket_classifier.errors import TicketClassifierError

LATENCY_SLACK = 0.15  # a candidate may be this much slower at concurrency 1 than the fastest and still win


def add_parsers(commands: argparse._SubParsersAction) -> None:
    """Register ``tune``."""
    command = commands.add_parser(
        "tune", help="try serving options on this machine with perf_analyzer; write the best as a production YAML"
    )
    add_load_test_inputs(command)
    command.add_argument("--config", help=PRODUCTION_CONFIG_HELP + "; the starting point, copied with the best options")
    command.add_argument("--concurrency", type=int, default=16, help="the loaded level (default 16)")
    command.add_argument("--window-ms", type=int, default=3000, help="perf_analyzer measurement window (default 3000)")
    command.add_argument(
        "--candidates",
        help="only these candidates, comma-separated names as in the table (e.g. 1x2-buckets,fused-2x2; default: all)",
    )
    command.add_argument("--output-dir", default="artifacts/tuning", help="where production.yaml and tuning.json go")
    command.set_defaults(handler=_tune)


def candidates(base, cores: int) -> list[tuple[str, dict]]:
    """(name, changes to the ``repository`` options) of every candidate for ``cores`` cores.

    The three steps: every split of the cores between classifier instances and threads. The
    fused pipeline (Python backend only): the splits with at least ``FUSED_MIN_INSTANCES``
    instances, and that many or one more instance than cores, with every core's threads for a lone
    ticket (they only overlap under load; with per-ticket calls a loaded instance uses its share of
    the cores, and the extra instance fills the gaps between another's executions: on the 2-core
    machine 3 instances won, docs/benchmarks.md), each with one onnxruntime call per ticket or with
    batched calls (with and without buckets)."""
    from ticket_classifier.build.model_configs import DEFAULT_LENGTH_BUCKETS, FUSED_MIN_INSTANCES
    from ticket_classifier.performance.ceiling import splits
    from ticket_classifier.runtime.contract import BATCHED_CALLS, PER_TICKET_CALLS

    bucket_choices = [[], base.length_buckets or list(DEFAULT_LENGTH_BUCKETS)]
    layouts = {False: [(split.processes, split.threads) for split in splits(cores)]}
    if base.classifier_backend == "python":
        fused = [shape for shape in layouts[False] if shape[0] >= FUSED_MIN_INSTANCES]
        fused += [(FUSED_MIN_INSTANCES, cores), (cores + 1, cores)]
        layouts[True] = sorted(set(fused))
    result = []
    for fused, shapes in layouts.items():
        # The fused step runs one onnxruntime call per ticket (buckets do not apply), or batched ones.
        if fused:
            calls = [(PER_TICKET_CALLS, []), *((BATCHED_CALLS, buckets) for buckets in bucket_choices)]
        else:
            calls = [(None, buckets) for buckets in bucket_choices]
        for (instances, threads), (onnx_calls, buckets) in itertools.product(shapes, calls):
            for spinning in (False, True) if instances == 1 else (False,):
                result.append(_candidate(fused, instances, threads, onnx_calls, buckets, spinning))
    return result


def _candidate(fused: bool, instances: int, threads: int, onnx_calls, buckets: list[int], spinning: bool):
    """One candidate's name (as in the table) and its changes to the ``repository`` options."""
    from ticket_classifier.runtime.contract import BATCHED_CALLS

    name = (
        f"{'fused-' if fused else ''}{instances}x{threads}{'-batched' if onnx_calls == BATCHED_CALLS else ''}"
        f"{'-buckets' if buckets else ''}{'-spin' if spinning else ''}"
    )
    changes = dict(
        fuse_steps=fused,
        classifier_instances=instances,
        onnx_intra_op_threads=threads,
        length_buckets=list(buckets),
        onnx_thread_spinning=spinning,
    )
    if onnx_calls:
        changes["fused_onnx_calls"] = onnx_calls
    return name, changes


def selected(tried: list[tuple[str, dict]], names: list[str] | None) -> list[tuple[str, dict]]:
    """The candidates named in ``names`` (all of them when None); an unknown name is an error."""
    if names is None:
        return tried
    known = [name for name, _ in tried]
    unknown = [name for name in names if name not in known]
    if unknown or not names:
        raise TicketClassifierError(
            f"unknown tuning candidate(s) {', '.join(unknown) or '(none given)'}; on this machine: {', '.join(known)}"
        )
    return [(name, changes) for name, changes in tried if name in names]


def choose(rows: list[dict]) -> dict:
    """The candidate with the highest loaded throughput among those close to the fastest at concurrency 1."""
    fastest = min(row["p50_ms_at_1"] for row in rows)
    eligible = [row for row in rows if row["p50_ms_at_1"] <= fastest * (1 + LATENCY_SLACK)]
    return max(eligible, key=lambda row: row["throughput_at_load"])


def _tune(args: argparse.Namespace) -> None:
    from ticket_classifier.commands.production import DEFAULT_PATH, production_config
    from ticket_classifier.commands.serving_benchmark import BenchmarkPlan, measure_triton
    from ticket_classifier.performance.perf_analyzer import PerfAnalyzer
    from ticket_classifier.performance.tickets import read_tickets
    from ticket_classifier.runtime.onnx_threads import available_cores

    if args.concurrency < 2:
        raise TicketClassifierError(f"--concurrency (the loaded level) must be at least 2, got {args.concurrency}")
    config, source = production_config(args.config)
    tickets = read_tickets(args.data, comma_list(args.text_fields), args.tickets)
    plan = BenchmarkPlan(concurrencies=[1, args.concurrency], protocols=["grpc"], peers=[], window_ms=args.window_ms)
    rows = []
    cores = available_cores()
    names = comma_list(args.candidates) if args.candidates is not None else None
    tried = selected(candidates(config.repository, cores), names)
    with PerfAnalyzer(tickets, window_ms=args.window_ms) as analyzer:
        print(f"{len(tried)} candidates on {cores} cores, precision {config.repository.precision}")
        for name, changes in tried:
            options = replace(config.repository, **changes)
            points = measure_triton(
                Path(args.checkpoint), Path(args.onnx_dir), options, name, plan, analyzer, report=lambda _: None
            )
            rows.append(
                {
                    "candidate": name,
                    "changes": changes,
                    "p50_ms_at_1": points[0]["p50_ms"],
                    "throughput_at_1": points[0]["throughput_per_s"],
                    "throughput_at_load": points[1]["throughput_per_s"],
                    "p99_ms_at_load": points[1]["p99_ms"],
                    "batch_at_load": points[1]["average_batch"],
                }
            )
            print(format_row(rows[-1], header=len(rows) == 1), flush=True)
    best = choose(rows)
    output = Path(args.output_dir)
    output.mkdir(parents=True, exist_ok=True)
    tuned = Path(args.config or DEFAULT_PATH)
    document = yaml.safe_load(tuned.read_text(encoding="utf-8")) if tuned.is_file() else {}
    document["repository"] = {**(document.get("repository") or {}), **best["changes"]}
    header = f"# Written by `{' '.join(['ticket-classifier', *sys.argv[1:]])}` from {source}: see tuning.json\n"
    (output / "production.yaml").write_text(header + yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    (output / "tuning.json").write_text(
        json.dumps(
            {"concurrency": args.concurrency, "cores": cores, "best": best["candidate"], "candidates": rows}, indent=1
        )
        + "\n",
        encoding="utf-8",
    )
    print(f"best: {best['candidate']}; written to {output / 'production.yaml'} (use it with build-repository --config)")


def format_row(row: dict, header: bool = False) -> str:
    """One line of the tuning table (with the column heads first when ``header``)."""
    line = (
        f"{row['candidate']:<24} {row['p50_ms_at_1']:>9.1f} {row['throughput_at_1']:>9.1f} "
        f"{row['throughput_at_load']:>10.1f} {row['p99_ms_at_load']:>11.1f} {row['batch_at_load'] or 0:>6.2f}"
    )
    if not header:
        return line
    heads = f"{'candidate':<24} {'p50@1 ms':>9} {'req/s@1':>9} {'req/s@load':>10} {'p99@load ms':>11} {'batch':>6}"
    return heads + "\n" + line
