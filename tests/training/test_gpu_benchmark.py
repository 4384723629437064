"""The GPU script runs end to end on the CPU (tiny encoder, a few rows): prepare here, run as a plain file."""

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from ticket_classifier.training.demo_data import write_demo_csv

pytestmark = pytest.mark.slow
SCRIPT = Path(__file__).resolve().parents[2] / "training" / "gpu_benchmark.py"


def test_prepare_then_run_on_cpu(tiny_encoders, tmp_path):
    data = tmp_path / "tickets.csv"
    with write_demo_csv(tmp_path / "demo.csv", 240, seed=3).open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    with data.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Document", "Topic_group"])
        writer.writerows([row["description"], row["category"]] for row in rows)
    bundle = tmp_path / "bundle"
    prepare = [sys.executable, str(SCRIPT), "prepare", "--output", str(bundle), "--encoder", str(tiny_encoders["bert"])]
    subprocess.run([*prepare, "--data", str(data)], check=True, timeout=300)
    output = tmp_path / "gpu.json"
    arguments = ["--device", "cpu", "--epochs", "1", "--throughput-steps", "2", "--batch-size", "8"]
    run = [sys.executable, str(SCRIPT), "run", "--bundle", str(bundle), "--output", str(output), *arguments]
    subprocess.run(run, check=True, timeout=600)
    result = json.loads(output.read_text())
    assert result["device"] == "cpu" and result["training_samples_per_s"]["fp32"] > 0
    assert 0.0 <= result["training"]["test_macro_f1"] <= 1.0
    assert sum(result["training"]["split_sizes"].values()) == 240
    assert result["inference"]["fp16_top1_agreement"] == 1.0  # on CPU the "FP16" model is the FP32 one
    assert set(result["inference"]["texts_per_s"]) == {f"{p}_batch_{b}" for p in ("fp32", "fp16") for b in (1, 32, 128)}
