"""Strict YAML configuration loading: every mistake is named."""

from pathlib import Path

import pytest

from ticket_classifier.config import load_config
from ticket_classifier.errors import TicketClassifierError
from ticket_classifier.production import ProductionConfig, load_production_config
from ticket_classifier.training.config import TrainingConfig, load_training_config

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


def test_section_must_be_a_mapping(tmp_path):
    with pytest.raises(TicketClassifierError, match="'data' must be a mapping"):
        load_training_config(write(tmp_path, "data: 3\n"))


def test_missing_file(tmp_path):
    with pytest.raises(TicketClassifierError, match="config file not found"):
        load_config(TrainingConfig, tmp_path / "absent.yaml")


def test_invalid_yaml(tmp_path):
    with pytest.raises(TicketClassifierError, match="not valid YAML"):
        load_config(ProductionConfig, write(tmp_path, "server: [unclosed\n"))


def test_top_level_list(tmp_path):
    with pytest.raises(TicketClassifierError, match="must hold a mapping at the top level"):
        load_config(ProductionConfig, write(tmp_path, "- 1\n- 2\n"))


def test_empty_file_gives_defaults(tmp_path):
    assert load_config(ProductionConfig, write(tmp_path, "")) == ProductionConfig()
