"""The benchmark configs against the real data sets in ``../shared/data`` (skipped where it is absent).

These check the data contract on real exports, which have one text column and (Banking77) a
separate official test file: every row is accounted for, splits are disjoint, and the
counts match the data's README.
"""

from pathlib import Path

import pytest

from ticket_classifier.training.config import load_training_config
from ticket_classifier.training.data import prepare_splits

CONFIGS = Path("configs/benchmarks")


def splits_for(config_name: str):
    """Load a benchmark config and prepare its splits, or skip when its data is not on this machine."""
    config = load_training_config(str(CONFIGS / config_name))
    for path in filter(None, (config.data.path, config.data.test_path)):
        if not Path(path).is_file():
            pytest.skip(f"real data {path} is not on this machine (only ../shared/data has it)")
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
