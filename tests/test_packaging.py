"""Packaging: the thin client installs without the heavy stack; generic names stay out of site-packages."""

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import tomllib

from ticket_classifier.drift_reference import drift_reference, write_drift_reference
from ticket_classifier.runtime.contract import DRIFT_REFERENCE_FILENAME
from ticket_classifier.server import free_ports

REPO_ROOT = Path(__file__).resolve().parent.parent
# The model stack, which the client and monitoring extras leave out: distribution name -> import name.
MODEL_STACK_PACKAGES = {"torch": "torch", "transformers": "transformers", "onnxruntime": "onnxruntime", "onnx": "onnx",
                        "tokenizers": "tokenizers", "scikit-learn": "sklearn", "pandas": "pandas"}  # fmt: skip
HEAVY = {*MODEL_STACK_PACKAGES, "nvidia-pytriton"}


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
    assert "ticket_classifier/training/demo_templates.json" in names
    # each source folder's place under ticket_classifier/ (pyproject.toml's package-dir)
    places = {"ticket_classifier": "", "training": "training/", "build": "build/", "clients": "clients/",
              "monitoring": "monitoring/"}  # fmt: skip
    for folder, place in places.items():
        for source in (REPO_ROOT / folder).rglob("*.py"):
            module = f"ticket_classifier/{place}{source.relative_to(REPO_ROOT / folder).as_posix()}"
            assert module in names, f"{module} is not in the wheel: list its package in pyproject.toml"
    assert not (REPO_ROOT / "build" / "lib").exists(), "setuptools must not write into the build/ package"


def test_python_dash_m_runs_the_command_line():
    result = subprocess.run(
        [sys.executable, "-m", "ticket_classifier", "--help"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0 and "usage: ticket-classifier" in result.stdout


# Import names of what an install without the extras lacks: the model stack and the extras' own packages.
MODEL_STACK = set(MODEL_STACK_PACKAGES.values())
EXTRAS = {"tritonclient", "google", "grpc", "prometheus_client", "fastapi", "uvicorn"}
WITHOUT = """
import importlib.abc, sys
class Absent(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {absent!r}:
            raise ImportError("No module named " + repr(name) + " (not installed here)")
sys.meta_path.insert(0, Absent())
from ticket_classifier.cli import main
sys.exit(main(sys.argv[1:]))
"""


def command_line_without(absent: set[str], *arguments: str) -> list[str]:
    """``ticket-classifier ARGUMENTS`` in a Python where the packages ``absent`` cannot be imported."""
    return [sys.executable, "-u", "-c", WITHOUT.format(absent=absent), *arguments]


def test_the_command_line_starts_on_an_install_without_extras():
    result = subprocess.run(command_line_without(MODEL_STACK | EXTRAS, "--help"), capture_output=True, text=True,
                            timeout=120)  # fmt: skip
    assert result.returncode == 0 and "usage: ticket-classifier" in result.stdout, result.stderr


def test_the_classify_command_runs_without_the_model_stack(tmp_path):
    command = command_line_without(MODEL_STACK, "classify", "--subject", "VPN down", "--description", "no connection")
    result = subprocess.run(
        [*command, "--url", f"127.0.0.1:{free_ports(1)[0]}"], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert "Traceback" not in result.stderr and "not installed here" not in result.stderr, result.stderr
    assert result.returncode == 1 and "error: cannot reach Triton at 127.0.0.1:" in result.stderr


def test_the_drift_monitor_runs_without_the_model_stack(tmp_path):
    reference = drift_reference(np.array([[0.9, 0.1], [0.2, 0.8]]), ["Access", "Email"], "two tickets")
    write_drift_reference(tmp_path, reference)
    port, triton = free_ports(2)
    command = command_line_without(MODEL_STACK, "drift-monitor", "--port", str(port), "--reference",
                                   str(tmp_path / DRIFT_REFERENCE_FILENAME), "--triton-url", f"127.0.0.1:{triton}",
                                   "--triton-metrics-url", f"http://127.0.0.1:{triton}/metrics")  # fmt: skip
    monitor = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp_path)
    try:
        lines = []
        while len(lines) < 10 and lines[-1:] != [f"drift monitor on 127.0.0.1:{port}/metrics"]:
            lines.append(monitor.stdout.readline().split(",")[0])  # log lines come first; scrape failures after
        assert lines[-1] == f"drift monitor on 127.0.0.1:{port}/metrics", lines
    finally:
        monitor.kill()
        monitor.wait(timeout=30)


def test_the_clients_import_from_the_package_root_and_only_when_asked_for():
    code = (
        "import sys, ticket_classifier; light = 'tritonclient' not in sys.modules; "
        "from ticket_classifier import AsyncTicketClassifierClient, TicketClassifierClient; "
        "print(light, TicketClassifierClient.__module__, AsyncTicketClassifierClient.__module__)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert result.stdout.split() == [
        "True",
        "ticket_classifier.clients.client",
        "ticket_classifier.clients.async_client",
    ]
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        import ticket_classifier

        ticket_classifier.Nope  # noqa: B018


def test_the_licence_file_is_the_declared_licence():
    declared = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["license"]
    assert declared == "Apache-2.0"
    assert "Apache License\n                           Version 2.0" in (REPO_ROOT / "LICENSE").read_text(
        encoding="utf-8"
    )
