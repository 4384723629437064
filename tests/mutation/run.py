"""Mutation testing of the core decision modules with cosmic-ray (``make mutation``).

Each module is mutated in place, one mutant at a time, and its fast unit tests run against
every mutant; a mutant the tests do not notice "survives". Prints, per module, how many
mutants were killed and lists the survivors (file, line, operator) for docs/testing.md.
Run it on a clean working tree: cosmic-ray restores each file after each mutant, and
``git diff`` must be empty afterwards.
"""

import json
import subprocess
import sys
import tempfile
from pathlib import Path

# module -> the unit tests that guard it
MODULES = {
    "clients/review.py": "tests/clients/test_review.py",
    "monitoring/psi.py": "tests/monitoring/test_psi.py",
    "build/parity.py": "tests/build/test_parity.py",
    "training/calibration.py": "tests/training/test_calibration.py",
    "clients/output_file.py": "tests/clients/test_output_file.py",
}
CONFIG = """[cosmic-ray]
module-path = "{module}"
timeout = 120.0
excluded-modules = []
test-command = "{python} -m pytest -x -q -p no:cacheprovider {tests}"

[cosmic-ray.distributor]
name = "local"
"""


def mutate(module: str, tests: str, folder: Path) -> dict:
    """Run cosmic-ray on one module; its killed and surviving mutants."""
    name = module.replace("/", "_").removesuffix(".py")
    config, session = folder / f"{name}.toml", folder / f"{name}.sqlite"
    config.write_text(CONFIG.format(module=module, tests=tests, python=sys.executable))
    cosmic_ray = [sys.executable, "-m", "cosmic_ray.cli"]
    subprocess.run([*cosmic_ray, "init", str(config), str(session)], check=True)
    subprocess.run([*cosmic_ray, "exec", str(config), str(session)], check=True)
    dump = subprocess.run([*cosmic_ray, "dump", str(session)], check=True, capture_output=True, text=True).stdout
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
    """Mutate every module; print the table and the survivors."""
    with tempfile.TemporaryDirectory() as folder:
        results = [mutate(module, tests, Path(folder)) for module, tests in MODULES.items()]
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
