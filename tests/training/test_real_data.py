"""The benchmark configs against the real data sets in ``../shared/data`` (skipped where it is absent).

These check the data contract on real exports, which have one text column and (Banking77) a
separate official test file: every row is accounted for, splits are disjoint, and the
counts match the data's README. And the README's own-data recipe on a few hundred real tickets
gives a model a service desk can use.
"""

import csv
import json
import random
from collections import Counter
from pathlib import Path

import pytest

from ticket_classifier.cli import main
from ticket_classifier.training.config import load_training_config
from ticket_classifier.training.data import prepare_splits

CONFIGS = Path("configs/benchmarks")


def benchmark_config(config_name: str):
    """Load a benchmark config, or skip when its data is not on this machine."""
    config = load_training_config(str(CONFIGS / config_name))
    for path in filter(None, (config.data.path, config.data.test_path)):
        if not Path(path).is_file():
            pytest.skip(f"real data {path} is not on this machine (only ../shared/data has it)")
    return config


def splits_for(config_name: str):
    """A benchmark config's splits, or skip when its data is not on this machine."""
    config = benchmark_config(config_name)
    return prepare_splits(config.data, config.optimization.seed)


def test_it_tickets_single_text_column_stratified_split():
    splits = splits_for("it_tickets_minilm.yaml")
    report = splits.report
    assert report.rows_read == 38270 and report.split.startswith("stratified")
    assert len(splits.labels) == 8 and "Administrative rights" in splits.labels
    accounted = sum(report.rows.values()) + report.dropped_empty_text + report.dropped_empty_label
    assert accounted + sum(report.duplicates_removed.values()) == report.rows_read
    assert not set(splits.test.texts) & set(splits.train.texts)
    assert abs(len(splits.test) / report.rows_read - 0.1) < 0.01


def test_banking77_official_test_file_without_leaks():
    splits = splits_for("banking77_minilm.yaml")
    report = splits.report
    assert len(splits.labels) == 77
    assert report.rows == {"train": 9002, "validation": 998, "test": 3073}
    assert report.duplicates_removed["test"] == 7
    assert not set(splits.test.texts) & (set(splits.train.texts) | set(splits.validation.texts))


@pytest.mark.slow
def test_the_readme_recipe_on_a_few_hundred_real_tickets_gives_a_usable_model(tmp_path):
    # A stranger's small export: 12 Banking77 intents, 60 queries each, one text column named
    # "text", labels in "queue"; trained by the README's command (two epochs, every other setting
    # the default). Before the head had its own learning rate this model sent every ticket to review.
    config = benchmark_config("banking77_minilm.yaml")
    with open(config.data.path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    rng = random.Random(1234)
    counts = Counter(row["category"] for row in rows)
    intents = sorted(intent for intent, count in counts.items() if count >= 60)
    chosen = rng.sample(intents, 12)
    tickets = [
        (row["text"], intent)
        for intent in chosen
        for row in rng.sample([row for row in rows if row["category"] == intent], 60)
    ]
    rng.shuffle(tickets)
    data = tmp_path / "my_tickets.csv"
    with data.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([("text", "queue"), *tickets])
    output = tmp_path / "checkpoint"
    arguments = ["--data", str(data), "--text-columns", "text", "--label-column", "queue", "--epochs", "2"]
    assert main(["train", *arguments, "--output-dir", str(output)]) == 0
    evaluation = json.loads((output / "report" / "evaluation.json").read_text())
    test, baseline = evaluation["test"], evaluation["baseline"]
    assert test["macro_f1"] >= baseline["macro_f1"] - 0.02, (test["macro_f1"], baseline["macro_f1"])
    assert evaluation["calibration"]["temperature"] != 1.0, "the fitted temperature was refused"
    assert test["review"]["coverage"] >= 0.6 and test["review"]["accuracy"] >= 0.9, test["review"]
