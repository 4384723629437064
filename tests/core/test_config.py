"""Strict YAML configuration loading: every mistake is named."""

from pathlib import Path

import pytest

from ticket_classifier.commands.production import ProductionConfig, load_production_config
from ticket_classifier.config import load_config
from ticket_classifier.errors import TicketClassifierError
from ticket_classifier.training.config import TrainingConfig, load_training_config, training_config

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def write(tmp_path, text):
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


def test_shipped_configs_load():
    assert load_training_config(CONFIGS / "demo.yaml").model.encoder == "minilm"
    assert load_training_config(CONFIGS / "training.yaml").model.encoder == "distilbert-base-uncased"
    production = load_production_config(CONFIGS / "production.yaml")
    assert production.server.grpc_port == 8001 and production.repository.max_batch_size == 64


def test_unknown_key_is_named_with_its_section(tmp_path):
    path = write(tmp_path, "optimization:\n  lerning_rate: 0.1\n")
    with pytest.raises(TicketClassifierError, match="unknown config key 'optimization.lerning_rate'") as error:
        load_training_config(path)
    assert str(path) in str(error.value)


def test_unknown_top_level_key(tmp_path):
    with pytest.raises(TicketClassifierError, match="unknown config key 'sever'"):
        load_production_config(write(tmp_path, "sever:\n  http_port: 1\n"))


def test_wrong_type_is_named(tmp_path):
    with pytest.raises(TicketClassifierError, match="'optimization.epochs' must be an integer, got 'three'"):
        load_training_config(write(tmp_path, "optimization:\n  epochs: three\n"))


def test_bool_is_not_a_number(tmp_path):
    with pytest.raises(TicketClassifierError, match="'server.http_port' must be an integer"):
        load_production_config(write(tmp_path, "server:\n  http_port: true\n"))


def test_out_of_range_value(tmp_path):
    with pytest.raises(TicketClassifierError, match="repository.device must be one of cpu, gpu"):
        load_production_config(write(tmp_path, "repository:\n  device: tpu\n"))


def test_two_server_ports_alike_are_refused(tmp_path):
    with pytest.raises(TicketClassifierError, match="server ports must differ .* grpc_port 8002, metrics_port 8002"):
        load_production_config(write(tmp_path, "server:\n  grpc_port: 8002\n"))


@pytest.mark.parametrize("key", ["learning_rate", "head_learning_rate"])
def test_a_learning_rate_must_be_positive(tmp_path, key):
    with pytest.raises(TicketClassifierError, match=f"optimization.{key} must be positive, got 0"):
        load_training_config(write(tmp_path, f"optimization:\n  {key}: 0\n"))


def test_section_must_be_a_mapping(tmp_path):
    with pytest.raises(TicketClassifierError, match="'data' must be a mapping"):
        load_training_config(write(tmp_path, "data: 3\n"))


def test_missing_file(tmp_path):
    with pytest.raises(TicketClassifierError, match="file not found: "):
        load_config(TrainingConfig, tmp_path / "absent.yaml")


def test_invalid_yaml(tmp_path):
    with pytest.raises(TicketClassifierError, match="not valid YAML"):
        load_config(ProductionConfig, write(tmp_path, "server: [unclosed\n"))


def test_top_level_list(tmp_path):
    with pytest.raises(TicketClassifierError, match="must hold a mapping at the top level"):
        load_config(ProductionConfig, write(tmp_path, "- 1\n- 2\n"))


def test_empty_file_gives_defaults(tmp_path):
    assert load_config(ProductionConfig, write(tmp_path, "")) == ProductionConfig()


def test_production_yaml_is_the_built_in_defaults():
    # A command run where there is no configs/production.yaml behaves exactly as one run here.
    assert load_production_config(CONFIGS / "production.yaml") == ProductionConfig()


def test_relative_paths_in_a_training_config_are_the_file_s(tmp_path, monkeypatch):
    folder = tmp_path / "project" / "configs"
    folder.mkdir(parents=True)
    (folder / "policy.yaml").write_text("review: {}\n")
    path = folder / "mine.yaml"
    path.write_text(
        "data:\n  path: ../data/t.csv\n  test_path: /abs/test.csv\nevaluation:\n  review_policy: policy.yaml\n"
        "output_dir: ../out\n"
    )
    monkeypatch.chdir(tmp_path)
    config = load_training_config(path)
    assert config.data.path == str(tmp_path / "project" / "data" / "t.csv")
    assert config.data.test_path == "/abs/test.csv"
    assert config.output_dir == str(tmp_path / "project" / "out")
    assert config.evaluation.review_policy == str(folder / "policy.yaml")


def test_flags_alone_make_a_training_config_and_override_a_file(tmp_path):
    config = training_config(
        None, data="t.csv", text_columns=["Document"], label_column="Queue", timestamp_column="none", epochs=1
    )
    assert (config.data.path, config.data.text_fields, config.data.label_field) == ("t.csv", ["Document"], "Queue")
    assert config.data.timestamp_field is None and config.optimization.epochs == 1
    file = write(tmp_path, "data:\n  path: a.csv\n  timestamp_field: created_at\noptimization:\n  epochs: 5\n")
    config = training_config(str(file), epochs=2, min_examples_per_label=4, drop_rare_labels=True)
    assert config.optimization.epochs == 2 and config.data.timestamp_field == "created_at"
    assert config.data.min_examples_per_label == 4 and config.data.drop_rare_labels


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({}, "no training data: give --data FILE"),
        ({"data": "t.csv", "epochs": 0}, "optimization.epochs and optimization.batch_size must be at least 1"),
        ({"data": "t.csv", "min_examples_per_label": 2}, "min_examples_per_label must be at least 3"),
    ],
)
def test_bad_flags_are_named(overrides, message):
    with pytest.raises(TicketClassifierError, match=message):
        training_config(None, **overrides)


def test_an_old_training_config_s_length_buckets_load_with_a_deprecation_message(tmp_path):
    path = write(tmp_path, "data:\n  path: tickets.csv\nmodel:\n  max_length: 64\n  length_buckets: [16, 32]\n")
    with pytest.warns(FutureWarning, match="model.length_buckets is ignored.*repository.length_buckets"):
        config = load_training_config(path)
    assert config.model.max_length == 64 and config.model.length_buckets is None
