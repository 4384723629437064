"""The README's "Train on your own tickets" section, run verbatim from a folder outside the project.

The section's code blocks are read from README.md and run in order, as a new user would: the
review policy file is written from its YAML block, each shell command runs with the project's
``ticket-classifier`` on ``PATH``. The data is generated: one text column, 20 labels of 10
tickets (the fewest training accepts), each told by keywords at the end of a long text, past the
encoder's maximum length: the TF-IDF baseline reads them and the fine-tune never sees them, so
the quality gate refuses the model first and accepts it with ``--allow-below-baseline``.
"""

import csv
import os
import random
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from ticket_classifier.build.layout import step_folders
from ticket_classifier.runtime.contract import MODEL_CARD_MARKDOWN, POSTPROCESS

pytestmark = [pytest.mark.integration, pytest.mark.slow]
SECTION = "## Train on your own tickets"
LABELS = ["Security incident"] + [f"Queue {name}" for name in (
    "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa quebec "
    "romeo sierra tango"
).split()]  # fmt: skip


def write_tickets(folder: Path) -> None:
    """``my_tickets.csv`` (text, queue) and ``new_tickets.csv`` (ref, text), told apart by their last words."""
    rng = random.Random(4)
    syllables = "ba ke lo mi nu pa re si to vu da fe gi ho ju".split()
    filler = ["".join(rng.choices(syllables, k=3)) for _ in range(400)]  # varied, and telling nothing
    keywords = {label: [f"kw{index}a", f"kw{index}b", f"kw{index}c"] for index, label in enumerate(LABELS)}

    def ticket(label: str) -> str:
        return " ".join(rng.choices(filler, k=150) + rng.sample(keywords[label], 2))

    with (folder / "my_tickets.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(("text", "queue"))
        writer.writerows((ticket(label), label) for label in LABELS for _ in range(10))
    with (folder / "new_tickets.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(("ref", "text"))
        writer.writerows((f"N{index}", ticket(rng.choice(LABELS))) for index in range(30))


def run(command: list[str], folder: Path, env: dict) -> subprocess.CompletedProcess:
    """One README command, from ``folder``."""
    return subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, timeout=900)


def test_the_own_data_section_works_verbatim_from_another_folder(tmp_path, readme):
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    write_tickets(folder)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env.pop("TICKET_CLASSIFIER_URL", None)
    yaml_blocks = [text for language, text in readme.blocks(SECTION) if language == "yaml"]
    policy_name = yaml_blocks[0].splitlines()[0].lstrip("# ").strip()
    (folder / policy_name).write_text(yaml_blocks[0], encoding="utf-8")
    shell = readme.commands(SECTION)
    assert [command[1] for command in shell] == [
        "train", "evaluate", "export", "build-repository", "build-repository", "serve", "classify",
        "distill", "export", "build-repository",
    ]  # fmt: skip
    train, evaluate, export, build, build_anyway, serve, classify, *student = shell
    for step in (train, evaluate, export):
        done = run(step, folder, env)
        assert done.returncode == 0, f"{' '.join(step)}\n{done.stdout}\n{done.stderr}"
        if step is train:  # everything after training works from the checkpoint alone
            (folder / "my_tickets.csv").rename(tmp_path / "my_tickets.csv")
    report = (folder / "my_model" / "checkpoint" / "report" / "report.md").read_text()
    assert "TF-IDF (1-2 grams) + linear SVM" in report and "critical Security incident from 0.15" in report
    refused = run(build, folder, env)
    assert refused.returncode == 1 and "below its own TF-IDF baseline" in refused.stderr, refused.stderr
    assert "--allow-below-baseline" in refused.stderr
    built = run(build_anyway, folder, env)
    assert built.returncode == 0 and "below its own TF-IDF baseline" in built.stderr, built.stderr  # still said
    card = step_folders(folder / "my_model" / "repository", 1)[POSTPROCESS] / MODEL_CARD_MARKDOWN
    assert "BELOW: served only because --allow-below-baseline was given" in card.read_text()
    server = subprocess.Popen(serve, cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            assert server.poll() is None, server.stdout.read()
            try:
                with urllib.request.urlopen("http://127.0.0.1:8004/ready", timeout=2) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                time.sleep(0.5)
        classified = run(classify, folder, env)
        assert classified.returncode == 0, classified.stderr
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=60)
    with (folder / "new_tickets.csv").open(newline="", encoding="utf-8") as handle:
        sent = list(csv.DictReader(handle))
    with (folder / "predictions.csv").open(newline="", encoding="utf-8") as handle:
        predictions = list(csv.DictReader(handle))
    assert [row["ref"] for row in predictions] == [row["ref"] for row in sent]
    assert [row["text"] for row in predictions] == [row["text"] for row in sent]
    assert all(
        row["predicted_category"] in LABELS and row["model_version"].startswith("1-fp32-") for row in predictions
    )
    distill = run(student[0], folder, env)  # the student learns from the teacher's own data ...
    assert distill.returncode == 1 and "the teacher's training data my_tickets.csv is not there" in distill.stderr
    (tmp_path / "my_tickets.csv").rename(folder / "my_tickets.csv")  # ... so it must be where train read it
    for step in student:  # the distilled student, built into its own repository
        done = run(step, folder, env)
        assert done.returncode == 0, f"{' '.join(step)}\n{done.stdout}\n{done.stderr}"
    card = step_folders(folder / "my_model" / "student_repository", 1)[POSTPROCESS] / MODEL_CARD_MARKDOWN
    assert re.search(
        r"Distilled student `transformer-3`: teacher layers \[0, 2, 5\].* macro-F1 \d\.\d{4}\)", card.read_text()
    )
