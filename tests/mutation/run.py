"""Mutation testing of the core decision modules with cosmic-ray (``make mutation``).

Each module is mutated one mutant at a time and its fast unit tests run against every mutant;
a mutant the tests do not notice "survives". Prints, per module, how many mutants were killed
and lists the survivors (file, line, operator) for docs/testing.md.

The working tree is never touched: the package is staged into a temporary folder laid out as
it is installed (``pyproject.toml``'s package-dir mapping), with the tests beside it, and
cosmic-ray mutates and tests that copy with ``PYTHONPATH`` pointing at it. A stopped run leaves
nothing behind.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[2]
# module (as installed) -> the unit tests that guard it
MODULES = {
    "ticket_classifier/runtime/review.py": "tests/runtime/test_review.py",
    "ticket_classifier/monitoring/psi.py": "tests/monitoring/test_psi.py",
    "ticket_classifier/build/parity.py": "tests/build/test_parity.py",
    "ticket_classifier/training/calibration.py": "tests/training/test_calibration.py",
    "ticket_classifier/clients/output_file.py": "tests/clients/test_output_file.py",
}
CONFIG = """[cosmic-ray]
module-path = "{module}"
timeout = 120.0
excluded-modules = []
test-command = "{python} -m pytest -x -q -p no:cacheprovider {tests}"

[cosmic-ray.distributor]
name = "local"
"""
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc")


def stage(folder: Path) -> None:
    """Copy the package (installed layout), the tests, configs and pyproject into ``folder``."""
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    for package, source in sorted(setuptools["package-dir"].items()):
        target = folder.joinpath(*package.split("."))
        shutil.copytree(ROOT / source, target, ignore=IGNORED, dirs_exist_ok=True)
    for name in ("tests", "configs"):
        shutil.copytree(ROOT / name, folder / name, ignore=IGNORED)
    shutil.copyfile(ROOT / "pyproject.toml", folder / "pyproject.toml")


def mutate(module: str, tests: str, folder: Path) -> dict:
    """Run cosmic-ray on one module of the staged copy; its killed and surviving mutants."""
    name = Path(module).with_suffix("").name
    config, session = folder / f"{name}.toml", folder / f"{name}.sqlite"
    config.write_text(CONFIG.format(module=module, tests=tests, python=sys.executable))
    cosmic_ray = [sys.executable, "-m", "cosmic_ray.cli"]
    environment = {**os.environ, "PYTHONPATH": str(folder)}
    for command in ("init", "exec"):
        subprocess.run([*cosmic_ray, command, str(config), str(session)], check=True, cwd=folder, env=environment)
    dump = subprocess.run(
        [*cosmic_ray, "dump", str(session)], check=True, capture_output=True, text=True, cwd=folder
    ).stdout
    killed, survivors = 0, []
    for line in dump.splitlines():
        job, result = json.loads(line)
        if result is None:
            continue
        if result["test_outcome"] == "survived":
            mutation = job["mutations"][0]
            survivors.append(f"{module}:{mutation['start_pos'][0]} {mutation['operator_name']}")
        else:
            killed += 1
    return {"module": module, "mutants": killed + len(survivors), "killed": killed, "survivors": survivors}


def main() -> int:
    """Mutate every module (or those named as arguments); print the table and the survivors."""
    chosen = {module: tests for module, tests in MODULES.items() if not sys.argv[1:] or module in sys.argv[1:]}
    with tempfile.TemporaryDirectory(prefix="mutation-") as name:
        folder = Path(name)
        stage(folder)
        check = subprocess.run(
            [sys.executable, "-c", "import ticket_classifier; print(ticket_classifier.__file__)"],
            capture_output=True,
            text=True,
            check=True,
            cwd=folder,
            env={**os.environ, "PYTHONPATH": name},
        )
        if not check.stdout.startswith(name):
            print(f"the staged package is not the one imported: {check.stdout.strip()}", file=sys.stderr)
            return 2
        results = [mutate(module, tests, folder) for module, tests in chosen.items()]
    total = sum(result["mutants"] for result in results)
    killed = sum(result["killed"] for result in results)
    print("| module | mutants | killed | score |\n| --- | --- | --- | --- |")
    for result in results:
        score = result["killed"] / result["mutants"] if result["mutants"] else 1.0
        print(f"| `{result['module']}` | {result['mutants']} | {result['killed']} | {score:.0%} |")
    print(f"| all | {total} | {killed} | {killed / total:.0%} |\n\nSurvivors:")
    for result in results:
        for survivor in result["survivors"]:
            print(f"- {survivor}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
