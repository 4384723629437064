"""The layers point one way: foundations, then training / build / clients / monitoring, then the
commands. ``docs/architecture.md`` draws the same table."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# folder in the repository -> its package (pyproject's package-dir)
FOLDERS = {
    "ticket_classifier": "ticket_classifier",
    "training": "ticket_classifier.training",
    "build": "ticket_classifier.build",
    "clients": "ticket_classifier.clients",
    "monitoring": "ticket_classifier.monitoring",
}
COMMANDS = (
    "ticket_classifier.cli",
    "ticket_classifier.__main__",
    "ticket_classifier.commands",
    "ticket_classifier.reliability",
)
# layer -> the layers it may import
MAY_IMPORT = {
    "runtime": {"runtime"},
    "foundation": {"runtime", "foundation"},
    "training": {"runtime", "foundation", "training"},
    "clients": {"runtime", "foundation", "clients"},
    "build": {"runtime", "foundation", "training", "build"},
    "monitoring": {"runtime", "foundation", "build", "monitoring"},
    "performance": {"runtime", "foundation", "training", "performance"},
    "commands": {"runtime", "foundation", "training", "clients", "build", "monitoring", "performance", "commands"},
}


def layer(module: str) -> str:
    """The layer of a ``ticket_classifier`` module."""
    if module == "ticket_classifier" or module.startswith(tuple(f"{name}." for name in COMMANDS)) or module in COMMANDS:
        return "commands"  # the package's root is the public facade: it re-exports the clients
    parts = module.split(".")
    if len(parts) > 1 and parts[1] in ("runtime", "training", "build", "clients", "monitoring", "performance"):
        return parts[1]
    return "foundation"


def project_modules():
    """(module name, path) of every module of the package, the Triton models excepted."""
    for folder, package in FOLDERS.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            relative = path.relative_to(ROOT / folder).with_suffix("")
            if relative.parts[:2] == ("runtime", "models"):
                continue  # run inside Triton; tests/runtime/test_isolation.py holds them
            parts = [package, *relative.parts]
            if parts[-1] == "__init__":
                parts.pop()
            yield ".".join(parts), path


def imports(module: str, path: Path):
    """(line, imported module) of each ``ticket_classifier`` import in ``path``, relative ones resolved.

    ``from ticket_classifier import runtime`` imports the module ``ticket_classifier.runtime``.
    """
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            if source == "ticket_classifier":
                for alias in node.names:
                    yield node.lineno, f"{source}.{alias.name}"
            elif source.startswith("ticket_classifier."):
                yield node.lineno, source
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("ticket_classifier"):
                    yield node.lineno, alias.name


def test_every_import_points_down_or_sideways_within_its_layer():
    wrong = []
    for module, path in project_modules():
        for line, target in imports(module, path):
            if layer(target) not in MAY_IMPORT[layer(module)]:
                wrong.append(f"{path.relative_to(ROOT)}:{line}: {layer(module)} imports {layer(target)} ({target})")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize(
    "module, expected",
    [
        ("ticket_classifier.runtime.contract", "runtime"),
        ("ticket_classifier.errors", "foundation"),
        ("ticket_classifier.server", "foundation"),
        ("ticket_classifier.build.repository", "build"),
        ("ticket_classifier.commands.demo", "commands"),
        ("ticket_classifier.cli", "commands"),
        ("ticket_classifier.reliability.load", "commands"),
        ("ticket_classifier.performance.ceiling", "performance"),
        ("ticket_classifier", "commands"),
    ],
)
def test_layers_are_named_as_documented(module, expected):
    assert layer(module) == expected


def test_the_check_sees_a_wrong_import(tmp_path):
    path = tmp_path / "bad.py"
    path.write_text("from ticket_classifier.commands.demo import run_demo\n")
    ((_, target),) = imports("ticket_classifier.build.bad", path)
    assert layer(target) not in MAY_IMPORT[layer("ticket_classifier.build.bad")]
