"""Loading and splitting labelled tickets; bad data files end in clear errors."""

import pytest

from ticket_classifier.errors import TicketClassifierError
from ticket_classifier.training.config import DataConfig
from ticket_classifier.training.data import load_labeled_texts, split_dataset


def write(tmp_path, text, name="t.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_demo_data_is_split_by_time(demo_csv):
    config = DataConfig(path=str(demo_csv))
    splits = split_dataset(load_labeled_texts(config), config, seed=1)
    assert max(splits.train.timestamps) <= min(splits.validation.timestamps)
    assert max(splits.validation.timestamps) <= min(splits.test.timestamps)
    assert len(splits.train) + len(splits.validation) + len(splits.test) == 480


def test_without_timestamps_the_split_is_stratified_and_seeded(demo_csv):
    config = DataConfig(path=str(demo_csv), timestamp_field=None)
    data = load_labeled_texts(config)
    first, second = split_dataset(data, config, seed=7), split_dataset(data, config, seed=7)
    assert first.test.texts == second.test.texts
    assert set(first.test.labels) == set(data.labels)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(TicketClassifierError, match="data file not found: .*absent.csv"):
        load_labeled_texts(DataConfig(path=str(tmp_path / "absent.csv")))


def test_missing_columns_are_named_with_the_file(tmp_path):
    path = write(tmp_path, "subject,body,category\na,b,c\n")
    with pytest.raises(TicketClassifierError, match=r"t.csv lacks required column\(s\) description, created_at"):
        load_labeled_texts(DataConfig(path=str(path)))


def test_single_text_column(tmp_path):
    path = write(tmp_path, "Document,Topic_group\nprinter jam,Hardware\nvpn,Network\n")
    data = load_labeled_texts(
        DataConfig(path=str(path), text_fields=["Document"], label_field="Topic_group", timestamp_field=None)
    )
    assert data.texts == ["printer jam", "vpn"] and data.labels == ["Hardware", "Network"]


def test_empty_rows_are_dropped_and_counted(tmp_path, caplog):
    path = write(tmp_path, "subject,description,category\na,b,X\n,,X\nc,d,\n")
    config = DataConfig(path=str(path), timestamp_field=None)
    with caplog.at_level("WARNING"):
        data = load_labeled_texts(config)
    assert len(data) == 1
    assert "dropped 2 of 3 rows" in caplog.text


def test_bad_timestamp_is_named(tmp_path):
    path = write(tmp_path, "subject,description,category,created_at\na,b,X,yesterday-ish\n")
    with pytest.raises(TicketClassifierError, match="unparseable timestamp 'yesterday-ish'"):
        load_labeled_texts(DataConfig(path=str(path)))


def test_file_without_rows(tmp_path):
    path = write(tmp_path, "subject,description,category\n")
    with pytest.raises(TicketClassifierError, match="no row with both a text and a label"):
        load_labeled_texts(DataConfig(path=str(path), timestamp_field=None))


def test_empty_file(tmp_path):
    with pytest.raises(TicketClassifierError, match="cannot read .* as CSV"):
        load_labeled_texts(DataConfig(path=str(write(tmp_path, ""))))
