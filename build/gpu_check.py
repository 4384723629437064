"""``make gpu-check``: FP16 parity and throughput of the exported models on a GPU, in one short run.

Needs ``onnxruntime-gpu`` (CUDAExecutionProvider). Compares every exported precision with
PyTorch on the checkpoint's held-out texts (the CPU build's very comparison and gates,
:func:`ticket_classifier.build.parity.compare_variant`, with the CUDA provider) and measures
onnxruntime throughput at a few batch sizes. Prints a table and writes JSON. With
``--provider CPUExecutionProvider`` the same code runs on any machine (the tests do that).
"""

import argparse
import json
import sys
import time
from pathlib import Path

from ticket_classifier.build.layout import onnx_filename
from ticket_classifier.build.onnx_export import parity_sample
from ticket_classifier.build.parity import compare_variant
from ticket_classifier.build.precisions import PRECISIONS
from ticket_classifier.errors import TicketClassifierError
from ticket_classifier.runtime.contract import PROBABILITIES
from ticket_classifier.training.checkpoint import load_checkpoint, read_review_policy
from ticket_classifier.training.inference import predict_logits, softmax

BATCH_SIZES = (1, 8, 32, 128)


def throughput(onnx_path: Path, provider: str, tokenizer, texts: list[str], repeats: int) -> dict[int, float]:
    """Texts per second with ``provider``, per batch size."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx_path), providers=[provider])
    speeds = {}
    for batch_size in BATCH_SIZES:
        feed = tokenizer.encode((texts * (batch_size // len(texts) + 1))[:batch_size])
        session.run([PROBABILITIES], feed)
        started = time.perf_counter()
        for _ in range(repeats):
            session.run([PROBABILITIES], feed)
        speeds[batch_size] = round(batch_size * repeats / (time.perf_counter() - started), 1)
    return speeds


def run(checkpoint_dir: str, onnx_dir: str, provider: str, samples: int, repeats: int, output: str) -> dict:
    """Check every exported precision found in ``onnx_dir`` with the CPU build's gates; return and write the results."""
    checkpoint = load_checkpoint(checkpoint_dir)
    texts, targets, description = parity_sample(Path(checkpoint_dir), None, samples)
    reference = softmax(predict_logits(checkpoint.model, checkpoint.tokenizer, texts), checkpoint.temperature)
    policy = read_review_policy(checkpoint_dir)
    results = {"provider": provider, "sample": description, "precisions": {}}
    for precision in PRECISIONS:
        path = Path(onnx_dir) / onnx_filename(precision)
        if path.is_file():
            result = compare_variant(
                precision,
                path,
                reference,
                checkpoint.tokenizer,
                texts,
                targets,
                labels=checkpoint.labels,
                policy=policy,
                provider=provider,
            )
            result["texts_per_second"] = throughput(path, provider, checkpoint.tokenizer, texts, repeats)
            results["precisions"][precision] = result
    if not results["precisions"]:
        raise TicketClassifierError(f"no exported model in {onnx_dir}")
    Path(output).parent.mkdir(parents=True, exist_ok=True)
    Path(output).write_text(json.dumps(results, indent=1) + "\n")
    return results


def main(argv: list[str] | None = None) -> int:
    """Command line of the GPU check."""
    parser = argparse.ArgumentParser(prog="gpu_check", description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--onnx-dir", required=True)
    parser.add_argument("--provider", default="CUDAExecutionProvider")
    parser.add_argument("--samples", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--output", default="gpu_check.json")
    args = parser.parse_args(argv)
    try:
        results = run(args.checkpoint, args.onnx_dir, args.provider, args.samples, args.repeats, args.output)
    except TicketClassifierError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    header = f"{'precision':<10} {'agree':>7} {'mean |dp|':>10} {'review':>7} "
    print(header + " ".join(f"{'b=' + str(b):>9}" for b in BATCH_SIZES))
    for precision, result in results["precisions"].items():
        speeds = " ".join(f"{result['texts_per_second'][b]:>9.1f}" for b in BATCH_SIZES)
        print(
            f"{precision:<10} {result['top1_agreement']:>7.4f} {result['mean_probability_difference']:>10.2e} "
            f"{result['review_agreement']:>7.4f} {speeds}"
        )
    print(f"texts per second with {args.provider}; written to {args.output}")
    return 0 if all(result["passed"] for result in results["precisions"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
