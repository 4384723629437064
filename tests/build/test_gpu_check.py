"""The GPU check script, run here on the CPU provider (no GPU in CI)."""

import json

import pytest

from ticket_classifier.build.gpu_check import main

pytestmark = pytest.mark.slow


def run_check(tiny_model, provider: str, arguments: list[str]) -> int:
    """The GPU check on the tiny model with ``provider`` and extra arguments; the exit code."""
    model = ["--checkpoint", str(tiny_model.checkpoint), "--onnx-dir", str(tiny_model.onnx.parent)]
    return main([*model, "--provider", provider, *arguments])


def test_gpu_check_runs_with_the_cpu_provider(tiny_model, tmp_path, capsys):
    output = tmp_path / "gpu_check.json"
    code = run_check(tiny_model, "CPUExecutionProvider", ["--samples", "30", "--repeats", "2", "--output", str(output)])
    assert code == 0
    results = json.loads(output.read_text())
    assert results["precisions"]["fp32"]["passed"]
    assert set(results["precisions"]["fp32"]["texts_per_second"]) == {"1", "8", "32", "128"}
    assert "texts per second" in capsys.readouterr().out


def test_missing_provider_is_a_clear_error(tiny_model, tmp_path, capsys):
    code = run_check(tiny_model, "TensorrtExecutionProvider", ["--output", str(tmp_path / "o.json")])
    assert code == 1 and "TensorrtExecutionProvider is not available" in capsys.readouterr().err
