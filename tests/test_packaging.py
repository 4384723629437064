"""Packaging: the thin client installs without the heavy stack; generic names stay out of site-packages."""

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
HEAVY = {"torch", "transformers", "onnxruntime", "onnx", "tokenizers", "nvidia-pytriton", "scikit-learn", "pandas"}


@pytest.mark.slow
def test_client_extra_resolves_without_the_heavy_stack(tmp_path):
    report = tmp_path / "report.json"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--dry-run",
            "--ignore-installed",
            "--report",
            str(report),
            f"{REPO_ROOT}[client]",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    names = {item["metadata"]["name"].lower() for item in json.loads(report.read_text())["install"]}
    assert "tritonclient" in names and "ticket-classifier" in names
    assert names & HEAVY == set()


@pytest.mark.slow
def test_wheel_maps_every_folder_under_one_namespace(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(tmp_path), str(REPO_ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    (wheel,) = tmp_path.glob("ticket_classifier-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {name.split("/")[0] for name in names} == {"ticket_classifier", wheel.name.split("-py3")[0] + ".dist-info"}
    for module in (
        "training/trainer.py",
        "build/repository.py",
        "build/triton_models/tokenizer.py",
        "clients/client.py",
        "monitoring/__init__.py",
        "cli.py",
    ):
        assert f"ticket_classifier/{module}" in names
    assert not (REPO_ROOT / "build" / "lib").exists(), "setuptools must not write into the build/ package"
