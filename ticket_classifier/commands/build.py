"""``export``, ``build-repository``, ``rollout`` and ``benchmark-serving``: from a checkpoint to served versions."""

import argparse
import json
import sys
from pathlib import Path

from ticket_classifier.build.precisions import DEFAULT_INT8_SCHEME, INT8_SCHEMES
from ticket_classifier.commands.flags import (
    PRODUCTION_CONFIG_HELP,
    add_load_test_inputs,
    comma_integers,
    comma_list,
    length_buckets,
    with_flags,
)
from ticket_classifier.errors import TicketClassifierError


def add_parsers(commands: argparse._SubParsersAction) -> None:
    """Register this group's commands."""
    command = commands.add_parser("export", help="export FP32/FP16/INT8 ONNX behind parity gates against PyTorch")
    command.add_argument("--checkpoint", default="artifacts/checkpoint", help="checkpoint folder")
    command.add_argument(
        "--output-dir", default="artifacts/onnx", help="folder for model.<precision>.onnx and the report"
    )
    command.add_argument("--precisions", default="fp32,fp16,int8", help="comma-separated (default fp32,fp16,int8)")
    command.add_argument("--parity-data", help="labelled held-out file for the parity gates (default: the test split)")
    command.add_argument("--parity-samples", type=int, default=1000, help="texts compared (default 1000)")
    command.add_argument(
        "--quantization-preset", choices=["avx512_vnni", "avx512", "avx2", "arm64"], help="default: this CPU's"
    )
    command.add_argument(
        "--int8-scheme",
        choices=INT8_SCHEMES,
        default=DEFAULT_INT8_SCHEME,
        help="dynamic: every MatMul/Attention in INT8; sensitivity (default): the nodes INT8 hurts most, measured "
        "on validation texts, stay FP32 until INT8 agrees with FP32 (docs/benchmarks.md)",
    )
    command.set_defaults(handler=_export)

    command = commands.add_parser("build-repository", help="write the Triton model repository")
    command.add_argument("--checkpoint", default="artifacts/checkpoint", help="checkpoint folder")
    command.add_argument("--onnx-dir", default="artifacts/onnx", help="folder written by 'export'")
    command.add_argument(
        "--precision",
        choices=["auto", "fp32", "fp16", "int8"],
        help="which exported model to serve (default: repository.precision, auto: INT8 on CPU, FP16 on GPU, "
        "when its parity gate passed, else FP32)",
    )
    command.add_argument("--output", default="model_repository", help="repository folder")
    command.add_argument("--config", help=PRODUCTION_CONFIG_HELP)
    command.add_argument(
        "--review-policy",
        help="YAML with the review policy to serve (a review section, as in configs/production.yaml); "
        "default: the review section of --config",
    )
    command.add_argument(
        "--allow-below-baseline",
        action="store_true",
        help="serve a model whose test macro-F1 is below its TF-IDF baseline or repository.min_macro_f1",
    )
    command.add_argument("--version", type=int, help="model version number (default: next free)")
    command.add_argument(
        "--device",
        choices=["cpu", "gpu"],
        help="instance-group kind of the classifier (default: repository.device, cpu)",
    )
    command.add_argument(
        "--classifier-backend",
        choices=["python", "onnxruntime"],
        help="python: onnxruntime inside the Python backend (pip server); onnxruntime: native (NGC container) "
        "(default: repository.classifier_backend, python)",
    )
    command.add_argument(
        "--max-batch-size", type=int, help="max_batch_size of every model (default: repository.max_batch_size, 64)"
    )
    command.add_argument(
        "--length-buckets",
        type=length_buckets,
        help="padded lengths of the tokenizer step, e.g. 32,64, or none to pad each request to its longest ticket "
        "(default: repository.length_buckets, 32,64)",
    )
    command.set_defaults(handler=_build_repository)

    command = commands.add_parser("rollout", help="switch a running server to another model version")
    command.add_argument("--model-repository", default="model_repository", help="repository folder")
    command.add_argument(
        "--version", type=int, required=True, help="version to activate (must be built; required, no default)"
    )
    command.add_argument(
        "--url",
        default="localhost:8000",
        help="the server's HTTP address: host:port, or https://host:port behind a TLS proxy (default localhost:8000)",
    )
    command.add_argument("--ca-file", help="CA bundle that signed the proxy's certificate (default: the system's)")
    command.add_argument(
        "--admin-key-file", help="file with the server's admin key (default: $TICKET_CLASSIFIER_ADMIN_KEY, if set)"
    )
    command.set_defaults(handler=_rollout)

    command = commands.add_parser(
        "benchmark-serving",
        help="Triton (perf_analyzer) against the in-process ceiling and FastAPI peers (wrk); table + JSON",
    )
    add_load_test_inputs(command)
    command.add_argument(
        "--config", help=PRODUCTION_CONFIG_HELP + " (its repository section is the 'configured' variant)"
    )
    command.add_argument(
        "--variants",
        default="configured",
        help="comma-separated repository variants, the first is the one the ratios are for "
        "(configured, fp32, int8, buckets, no-buckets, spinning, no-warmup, fused, fused-all-cores, fused-batched, "
        "three-steps, instance-per-core)",
    )
    command.add_argument("--concurrency", default="1,4,16,64", help="comma-separated concurrency levels")
    command.add_argument("--protocols", default="grpc,http", help="Triton protocols (grpc,http)")
    command.add_argument(
        "--peers",
        default="fastapi-pytorch-fp32,fastapi-onnxruntime",
        help="peer services, comma-separated (the onnxruntime peer serves the first variant's precision); "
        "'none' for none",
    )
    command.add_argument(
        "--compare",
        action="append",
        default=[],
        metavar="CHECKPOINT:ONNX_DIR",
        help="another model to measure in the same run under the first variant (a distilled student beside its "
        "teacher, say); repeatable (default: none)",
    )
    command.add_argument("--window-ms", type=int, default=3000, help="perf_analyzer measurement window (default 3000)")
    command.add_argument("--peer-seconds", type=float, default=9.0, help="wrk run per level (default 9)")
    command.add_argument("--ceiling-seconds", type=float, default=8.0, help="in-process run per split (default 8)")
    command.add_argument("--output", default="artifacts/benchmarks/serving.json", help="JSON result file")
    command.set_defaults(handler=_benchmark_serving)


def _export(args: argparse.Namespace) -> None:
    from ticket_classifier.build.onnx_export import export_variants, parity_table
    from ticket_classifier.runtime.contract import BUILD_REPORT_FILENAME

    if args.parity_samples < 1:
        raise TicketClassifierError("--parity-samples must be at least 1")
    precisions = tuple(part.strip() for part in args.precisions.split(",") if part.strip())
    report_path = Path(args.output_dir) / BUILD_REPORT_FILENAME
    report_path.unlink(missing_ok=True)
    try:
        report = export_variants(
            args.checkpoint,
            args.output_dir,
            precisions=precisions,
            parity_data=args.parity_data,
            parity_samples=args.parity_samples,
            quantization_preset=args.quantization_preset,
            int8_scheme=args.int8_scheme,
        )
    except TicketClassifierError:
        if report_path.is_file():  # a gate failed: show every variant before the error
            print(parity_table(json.loads(report_path.read_text(encoding="utf-8"))))
        raise
    print(parity_table(report))
    print(f"ONNX models and {BUILD_REPORT_FILENAME} written to {args.output_dir}")


def _build_repository(args: argparse.Namespace) -> None:
    from ticket_classifier.build.repository import build_repository
    from ticket_classifier.commands.production import load_review_policy, production_config

    production, source = production_config(args.config)
    options = with_flags(
        production.repository, args, ("device", "classifier_backend", "max_batch_size", "precision", "length_buckets")
    )
    if args.review_policy:
        policy, policy_source = load_review_policy(args.review_policy), args.review_policy
    else:
        policy, policy_source = production.review, f"the review section of {source}"
    built = build_repository(
        args.checkpoint,
        args.onnx_dir,
        args.output,
        options,
        version=args.version,
        review_policy=policy,
        review_policy_source=policy_source,
        allow_below_baseline=args.allow_below_baseline,
    )
    print(f"model repository {built.path}: version {built.version} ({built.model_version}); settings: {source}")
    print(f"model card: {built.model_card}")


def _rollout(args: argparse.Namespace) -> None:
    from ticket_classifier.admin_key import read_admin_key
    from ticket_classifier.build.rollout import rollout
    from ticket_classifier.triton_admin import tls_context

    result = rollout(
        args.model_repository,
        args.version,
        args.url,
        admin_key=read_admin_key(args.admin_key_file),
        ssl_context=tls_context(args.ca_file),
    )
    print(f"ticket_classifier now serves version {result['active']} (was {result['previous']})")


def _benchmark_serving(args: argparse.Namespace) -> None:
    from ticket_classifier.commands import serving_benchmark as benchmark
    from ticket_classifier.commands.production import production_config
    from ticket_classifier.performance.tickets import read_tickets

    plan = benchmark.BenchmarkPlan(
        variants=comma_list(args.variants),
        concurrencies=comma_integers(args.concurrency, "--concurrency"),
        protocols=comma_list(args.protocols),
        peers=[] if args.peers.strip() == "none" else comma_list(args.peers),
        window_ms=args.window_ms,
        peer_seconds=args.peer_seconds,
        ceiling_seconds=args.ceiling_seconds,
    )
    tickets = read_tickets(args.data, comma_list(args.text_fields), args.tickets)
    base = production_config(args.config)[0].repository
    others = [compared_model(value) for value in args.compare]
    results = benchmark.run_benchmark(args.checkpoint, args.onnx_dir, tickets, plan, base=base, others=others)
    print()
    print(benchmark.format_profile(results["served"], plan.variants[0], 1, plan.protocols[0]))
    print(benchmark.format_ratios(results["ratios"]))
    for model in results["compared"]:
        print(f"{model['checkpoint']}: {model['ratios']}")
    path = benchmark.write_results(args.output, results, " ".join(sys.argv))
    print(f"written to {path}")


def compared_model(value: str) -> tuple[Path, Path]:
    """``CHECKPOINT:ONNX_DIR`` of ``--compare``, both folders checked."""
    checkpoint, separator, onnx_dir = value.rpartition(":")
    if not separator or not checkpoint or not onnx_dir:
        raise TicketClassifierError(f"--compare takes CHECKPOINT:ONNX_DIR, got {value!r}")
    for folder in (checkpoint, onnx_dir):
        if not Path(folder).is_dir():
            raise TicketClassifierError(f"--compare {value}: folder not found: {folder}")
    return Path(checkpoint), Path(onnx_dir)
