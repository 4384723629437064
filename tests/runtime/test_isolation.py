"""The runtime package runs alone: a fresh interpreter with nothing else of the project on its path
imports it, and each Python model's ``model.py`` beside it, exactly as Triton's stub does."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ticket_classifier import runtime
from ticket_classifier.runtime.contract import PYTHON_MODEL_FILENAME, RUNTIME_PACKAGE

SOURCE = Path(runtime.__file__).parent
MODULES = sorted(path.stem for path in SOURCE.glob("*.py") if path.stem != "__init__")
# What a model may pull in besides the standard library and the runtime package.
ALLOWED = {"numpy", "tokenizers"}
PROBE = r"""
import importlib.abc, importlib.util, json, sys, types

class RefuseTheProject(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "ticket_classifier" or name.startswith("ticket_classifier."):
            raise ImportError(f"the runtime imported {name}")

sys.meta_path.insert(0, RefuseTheProject())
sys.modules["triton_python_backend_utils"] = types.ModuleType("triton_python_backend_utils")
before = set(sys.modules)
target = sys.argv[1]
if target.endswith(".py"):
    spec = importlib.util.spec_from_file_location("model", target)
    spec.loader.exec_module(importlib.util.module_from_spec(spec))
else:
    for name in target.split(","):
        importlib.import_module(name)
# top-level modules with a file (numpy's Cython helpers register file-less ones)
loaded = {name.split(".")[0] for name in set(sys.modules) - before if getattr(sys.modules[name], "__file__", None)}
print(json.dumps(sorted(loaded - set(sys.stdlib_module_names))))
"""


def version_folder(tmp_path: Path) -> Path:
    """A model version folder as the builder lays it out: ``runtime/`` beside ``model.py``."""
    folder = tmp_path / "1"
    shutil.copytree(SOURCE, folder / RUNTIME_PACKAGE, ignore=shutil.ignore_patterns("models", "__pycache__"))
    return folder


def third_party_imports(folder: Path, target: str) -> set[str]:
    """Top-level non-standard modules a fresh interpreter loads for ``target``, run from ``folder``."""
    result = subprocess.run(
        [sys.executable, "-s", "-c", PROBE, target],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return set(json.loads(result.stdout.splitlines()[-1]))


def test_every_runtime_module_imports_alone(tmp_path):
    folder = version_folder(tmp_path)
    loaded = third_party_imports(folder, ",".join(f"{RUNTIME_PACKAGE}.{name}" for name in MODULES))
    assert loaded <= {RUNTIME_PACKAGE} | ALLOWED


@pytest.mark.parametrize("model", ["tokenizer", "classifier", "postprocess", "pipeline"])
def test_each_python_model_imports_with_only_the_runtime_beside_it(tmp_path, model):
    folder = version_folder(tmp_path)
    shutil.copyfile(SOURCE / "models" / model / PYTHON_MODEL_FILENAME, folder / PYTHON_MODEL_FILENAME)
    loaded = third_party_imports(folder, str(folder / PYTHON_MODEL_FILENAME))
    if model in ("classifier", "pipeline"):  # onnxruntime brings its own dependencies; none may be the project
        assert "onnxruntime" in loaded
    else:
        assert loaded <= {RUNTIME_PACKAGE} | ALLOWED


def test_a_runtime_module_that_imports_the_project_is_caught(tmp_path):
    folder = version_folder(tmp_path)
    (folder / RUNTIME_PACKAGE / "text.py").write_text("from ticket_classifier.errors import TicketClassifierError\n")
    result = subprocess.run(
        [sys.executable, "-s", "-c", PROBE, f"{RUNTIME_PACKAGE}.text"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert result.returncode != 0 and "the runtime imported ticket_classifier" in result.stderr
