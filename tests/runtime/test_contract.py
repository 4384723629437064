"""Every model, tensor, parameter and version-file name is written once, in the serving contract."""

import ast
import re
from pathlib import Path

import pytest

from ticket_classifier.build.model_configs import RepositoryOptions, ensemble_config
from ticket_classifier.runtime import contract

ROOT = Path(__file__).resolve().parents[2]
PRODUCT_FOLDERS = ("ticket_classifier", "build", "clients", "monitoring", "training")
NAMES = {value for key, value in vars(contract).items() if key.isupper() and isinstance(value, str)} | {
    item for key, value in vars(contract).items() if key.isupper() and isinstance(value, tuple) for item in value
}
NAMES -= {contract.ENSEMBLE_VERSION}  # "1" is every other number too
# "ticket_classifier" is also the Python package's name (module paths, logger names)
PACKAGE_NAME = "ticket_classifier"
# The same spelling with another meaning: (file, string) -> what it is there.
HOMONYMS = {
    ("ticket_classifier/commands/build.py", "length_buckets"): "the RepositoryOptions field a flag overrides",
    ("ticket_classifier/runtime/tokenization.py", "length_buckets"): "the key old checkpoints' settings had",
}


def string_literals(path: Path):
    """(line, value) of each string constant in ``path`` that is not a docstring."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            yield node.lineno, node.value


def test_no_contract_name_is_spelled_outside_the_contract():
    found = []
    for folder in PRODUCT_FOLDERS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path == Path(contract.__file__):
                continue
            for line, value in string_literals(path):
                if value in NAMES and value != PACKAGE_NAME and (str(path.relative_to(ROOT)), value) not in HOMONYMS:
                    found.append(f"{path.relative_to(ROOT)}:{line}: {value!r}")
    assert not found, "use ticket_classifier.runtime.contract instead:\n" + "\n".join(found)


@pytest.mark.parametrize("fuse_steps", [False, True])
def test_the_ensemble_configuration_speaks_the_contract(fuse_steps):
    options = RepositoryOptions(fuse_steps=fuse_steps)
    config = ensemble_config(options, list(contract.TOKEN_INPUTS[:2]), num_labels=5, version=1)
    text = config.render()
    assert re.findall(r'^input \[|name: "([A-Z_]+)"', text, flags=re.M)
    inputs_outputs = re.findall(r'^\s*name: "([A-Z_]+)"', text, flags=re.M)
    assert inputs_outputs == list(contract.TEXT_INPUTS + contract.ENSEMBLE_OUTPUTS)
    assert f'name: "{contract.ENSEMBLE}"' in text
    for step in contract.FUSED_STEPS if fuse_steps else contract.THREE_STEPS:
        assert f'model_name: "{step}"' in text


def test_the_model_repository_readme_names_every_served_name():
    readme = (ROOT / "model_repository" / "README.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"`([^`]+)`", readme))
    served = (
        set(contract.STEP_MODELS)
        | {contract.ENSEMBLE, contract.POSTPROCESS_INPUT, contract.RUNTIME_PACKAGE + "/"}
        | set(contract.TEXT_INPUTS + contract.ENSEMBLE_OUTPUTS + contract.TOKEN_INPUTS + contract.CLASSIFIER_OUTPUTS)
        | {value for key, value in vars(contract).items() if key.endswith(("_FILENAME", "_JSON", "_MARKDOWN"))}
    )
    assert not served - documented, f"model_repository/README.md does not name {sorted(served - documented)}"
