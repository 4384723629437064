"""The data contract: every check has a test, and nothing is dropped without being counted."""

import logging

import pandas as pd
import pytest

from ticket_classifier.errors import TicketClassifierError
from ticket_classifier.training.config import DataConfig
from ticket_classifier.training.data import DataReport, load_labeled_texts, prepare_splits


def write(tmp_path, text, name="t.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def rows_csv(tmp_path, rows, header="subject,description,category", name="t.csv"):
    return write(tmp_path, header + "\n" + "\n".join(rows) + "\n", name)


def flat_config(path, **overrides):
    return DataConfig(path=str(path), timestamp_field=None, min_examples_per_label=3, **overrides)


def test_demo_data_is_split_by_time(demo_csv):
    splits = prepare_splits(DataConfig(path=str(demo_csv), timestamp_field="created_at"), seed=1)
    assert max(splits.train.timestamps) <= min(splits.validation.timestamps)
    assert max(splits.validation.timestamps) <= min(splits.test.timestamps)
    assert splits.report.split == "temporal"
    assert (
        sum(splits.report.rows.values())
        + sum(splits.report.duplicates_removed.values())
        + sum(splits.report.dropped_unseen_label.values())
        == 480
    )


def test_without_timestamps_the_split_is_stratified_and_seeded(demo_csv):
    config = DataConfig(path=str(demo_csv), timestamp_field=None)
    first, second = prepare_splits(config, seed=7), prepare_splits(config, seed=7)
    assert first.test.texts == second.test.texts
    assert set(first.test.labels) == set(first.labels)
    assert prepare_splits(config, seed=8).test.texts != first.test.texts


def test_every_count_is_in_the_run_log(demo_csv, caplog):
    with caplog.at_level(logging.INFO):
        prepare_splits(DataConfig(path=str(demo_csv), timestamp_field="created_at"), seed=1)
    for phrase in ("read 480 rows", "dropped rows with an empty text: 0", "temporal split", "duplicate texts removed"):
        assert phrase in caplog.text


def test_missing_file_is_named(tmp_path):
    with pytest.raises(TicketClassifierError, match="data file not found: .*absent.csv"):
        prepare_splits(DataConfig(path=str(tmp_path / "absent.csv")), seed=1)


def test_missing_columns_are_named_with_the_file(tmp_path):
    path = write(tmp_path, "subject,body,category\na,b,c\n")
    with pytest.raises(TicketClassifierError, match=r"t.csv lacks required column\(s\) description, created_at"):
        prepare_splits(DataConfig(path=str(path), timestamp_field="created_at"), seed=1)


def test_single_text_column(tmp_path):
    path = write(tmp_path, "Document,Topic_group\nprinter jam,Hardware\nvpn,Network\n")
    config = DataConfig(path=str(path), text_fields=["Document"], label_field="Topic_group", timestamp_field=None)
    data = load_labeled_texts(str(path), config, DataReport())
    assert data.texts == ["printer jam", "vpn"] and data.labels == ["Hardware", "Network"]


def test_empty_texts_and_labels_are_dropped_and_counted(tmp_path):
    path = write(tmp_path, "subject,description,category\na,b,X\n,,X\n , ,X\nc,d,\n")
    report = DataReport()
    data = load_labeled_texts(str(path), flat_config(path), report)
    assert len(data) == 1
    assert (report.rows_read, report.dropped_empty_text, report.dropped_empty_label) == (4, 2, 1)


def test_rare_labels_are_an_error_naming_them(tmp_path):
    rows = [f"s{i},d{i},Common" for i in range(20)] + ["x,y,Rare", "x2,y2,Rare", "z,w,Single"]
    path = rows_csv(tmp_path, rows)
    config = DataConfig(path=str(path), timestamp_field=None, min_examples_per_label=5)
    with pytest.raises(TicketClassifierError, match=r"fewer than 5 examples: Single \(1\), Rare \(2\)") as error:
        prepare_splits(config, seed=1)
    assert "--drop-rare-labels" in str(error.value) and "--min-examples-per-label" in str(error.value)


def test_rare_labels_can_be_dropped_and_are_counted(tmp_path):
    rows = [f"{label} s{i},d{i},{label}" for label in ("Common", "Other") for i in range(20)]
    rows += ["x,y,Rare", "x2,y2,Rare", "z,w,Single"]
    config = DataConfig(path=str(rows_csv(tmp_path, rows)), min_examples_per_label=5, drop_rare_labels=True)
    splits = prepare_splits(config, seed=1)
    assert splits.labels == ["Common", "Other"] and splits.report.dropped_rare_labels == {"Single": 1, "Rare": 2}
    assert sum(splits.report.rows.values()) == 40


def test_a_held_out_split_too_small_for_every_label_is_named_not_a_library_traceback(tmp_path):
    rows = [f"s{i},d{i},L{label}" for label in range(12) for i in range(5)]  # 60 rows, 12 labels: 6 held out
    config = DataConfig(path=str(rows_csv(tmp_path, rows)), min_examples_per_label=5)
    with pytest.raises(TicketClassifierError, match="cannot hold one example of every label") as error:
        prepare_splits(config, seed=1)
    assert "60 rows and 12 labels" in str(error.value)


def test_a_utf8_byte_order_mark_is_not_part_of_the_first_column(tmp_path):
    path = tmp_path / "bom.csv"
    rows = "\n".join(f"s{i},d{i},{'AB'[i % 2]}" for i in range(40))
    path.write_bytes("\ufeffsubject,description,category\n".encode() + rows.encode() + b"\n")
    assert len(prepare_splits(flat_config(path), seed=1).train) > 0


def test_duplicates_across_splits_are_removed_from_the_later_split(tmp_path):
    rows = [f"same subject,same text,{label}" for label in ("A", "B") for _ in range(10)]
    rows += [f"s{i},unique {i},{'A' if i % 2 else 'B'}" for i in range(40)]
    splits = prepare_splits(flat_config(rows_csv(tmp_path, rows), validation_fraction=0.2, test_fraction=0.2), seed=3)
    train_texts = set(splits.train.texts)
    assert not train_texts & set(splits.validation.texts)
    assert not (train_texts | set(splits.validation.texts)) & set(splits.test.texts)
    removed = splits.report.duplicates_removed
    assert removed["validation"] + removed["test"] > 0
    assert sum(splits.report.rows.values()) + removed["validation"] + removed["test"] == 60


def test_undecodable_bytes_are_an_error_naming_the_line(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes(b"subject,description,category\nok,fine,A\ncaf\xe9,broken,A\n")
    with pytest.raises(
        TicketClassifierError,
        match=r"latin.csv: line 3 is not valid UTF-8 \(byte 0xe9\); save the file as UTF-8, or give its encoding",
    ):
        load_labeled_texts(str(path), flat_config(path), DataReport())


def test_undecodable_bytes_can_be_replaced_and_are_counted(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes(b"subject,description,category\nok,fine,A\ncaf\xe9,broken,A\n")
    report = DataReport()
    data = load_labeled_texts(str(path), flat_config(path, encoding_errors="replace"), report)
    assert len(data) == 2 and report.rows_with_replaced_bytes == 1


def test_other_encodings_can_be_declared(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes("subject,description,category\ncafé,menu,A\n".encode("latin-1"))
    data = load_labeled_texts(str(path), flat_config(path, encoding="latin-1"), DataReport())
    assert data.texts == ["café. menu"]


def test_unknown_encoding_is_named(tmp_path):
    path = rows_csv(tmp_path, ["a,b,A"])
    with pytest.raises(TicketClassifierError, match="unknown encoding 'klingon'"):
        load_labeled_texts(str(path), flat_config(path, encoding="klingon"), DataReport())


def test_parquet_is_read(tmp_path):
    path = tmp_path / "t.parquet"
    pd.DataFrame(
        {"subject": ["VPN", None], "description": ["down", "printer jam"], "category": ["Net", "Hw"]}
    ).to_parquet(path)
    data = load_labeled_texts(str(path), flat_config(path), DataReport())
    assert data.texts == ["VPN. down", "printer jam"] and data.labels == ["Net", "Hw"]


def test_corrupt_parquet_is_named(tmp_path):
    path = write(tmp_path, "not parquet at all", name="t.parquet")
    with pytest.raises(TicketClassifierError, match="cannot read .*t.parquet as Parquet"):
        load_labeled_texts(str(path), flat_config(path), DataReport())


def test_separate_test_file(tmp_path):
    train = rows_csv(tmp_path, [f"s{i},d{i},{'A' if i % 2 else 'B'}" for i in range(40)], name="train.csv")
    test = rows_csv(tmp_path, ["t1,x,A", "t2,y,B", "s1,d1,A", "t3,z,Unseen"], name="test.csv")
    splits = prepare_splits(flat_config(train, test_path=str(test)), seed=1)
    assert splits.test.texts == ["t1. x", "t2. y"]
    assert splits.report.duplicates_removed["test"] == 1
    assert splits.report.dropped_unseen_label["test"] == 1
    assert splits.report.split.endswith("test file given")


def test_bad_timestamp_is_named(tmp_path):
    path = write(tmp_path, "subject,description,category,created_at\na,b,X,2025-01-01\nc,d,X,yesterday-ish\n")
    with pytest.raises(TicketClassifierError, match=r"unparseable timestamp 'yesterday-ish' .*data row 2"):
        load_labeled_texts(str(path), DataConfig(path=str(path), timestamp_field="created_at"), DataReport())


def test_missing_timestamps_are_counted_in_the_error(tmp_path):
    path = write(tmp_path, "subject,description,category,created_at\na,b,X,2025-01-01\nc,d,X,\ne,f,X, \n")
    with pytest.raises(TicketClassifierError, match=r"t.csv: 2 rows lack a created_at value"):
        load_labeled_texts(str(path), DataConfig(path=str(path), timestamp_field="created_at"), DataReport())


def test_file_without_rows(tmp_path):
    path = write(tmp_path, "subject,description,category\n")
    with pytest.raises(TicketClassifierError, match="no row with both a text and a label"):
        load_labeled_texts(str(path), flat_config(path), DataReport())


def test_empty_file(tmp_path):
    path = write(tmp_path, "")
    with pytest.raises(TicketClassifierError, match="cannot read .* as CSV"):
        load_labeled_texts(str(path), flat_config(path), DataReport())


def test_too_few_rows_for_a_split(tmp_path):
    path = rows_csv(tmp_path, ["a,b,A", "c,d,A"])
    with pytest.raises(TicketClassifierError, match="split"):
        prepare_splits(flat_config(path), seed=1)
