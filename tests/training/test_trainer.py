"""Training a tiny model end to end writes a complete, loadable checkpoint."""

import json

import pytest

from ticket_classifier.training.checkpoint import REQUIRED_FILES, load_checkpoint

pytestmark = pytest.mark.slow


def test_checkpoint_is_complete(tiny_model):
    for name in REQUIRED_FILES:
        assert (tiny_model.checkpoint / name).is_file(), name
    metrics = json.loads((tiny_model.checkpoint / "metrics.json").read_text())
    assert metrics["rows"]["train"] + metrics["rows"]["validation"] + metrics["rows"]["test"] == 480
    assert len(metrics["history"]) == 2


def test_checkpoint_matches_the_architecture(tiny_model):
    checkpoint = load_checkpoint(tiny_model.checkpoint)
    has_token_types = "token_type_ids" in checkpoint.tokenizer.input_names
    assert has_token_types == (tiny_model.architecture == "bert")
    assert checkpoint.labels == sorted(checkpoint.labels) and len(checkpoint.labels) >= 8
