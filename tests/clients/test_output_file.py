"""The predictions file without a server: columns, resume proofs, torn lines, input order."""

import csv

import pytest

from ticket_classifier.clients.csv_input import read_input
from ticket_classifier.clients.output_file import (
    PREDICTION_COLUMNS,
    OrderedWriter,
    cut_torn_last_line,
    output_columns,
    prediction_row,
    record_id,
    restore_input_order,
    resume_point,
)
from ticket_classifier.clients.prediction import Prediction
from ticket_classifier.errors import TicketClassifierError

PREDICTION = Prediction(
    category="Network",
    confidence=0.91234567,
    top_k=[("Network", 0.91234567), ("Email", 0.05)],
    requires_review=True,
    review_reasons=["confidence low", "margin small"],
    model_version="1-fp32-abcd",
)


def source(tmp_path, rows, header="ticket_id,subject,description"):
    path = tmp_path / "in.csv"
    path.write_text(header + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return read_input(path, "ticket_id", ["subject", "description"])


def write_output(path, source_file, rows):
    writer = OrderedWriter(path, output_columns(source_file.header), append=True)
    writer.write([prediction_row(row, PREDICTION) for row in rows])
    writer.close()


def test_a_prediction_row_carries_the_input_then_the_prediction(tmp_path):
    file = source(tmp_path, ["A,VPN,down"])
    assert prediction_row(file.rows[0], PREDICTION) == [
        "A", "VPN", "down", "Network", "0.912346", "Network:0.9123|Email:0.0500", "true",
        "confidence low; margin small", "1-fp32-abcd", "0.0000", 2, file.rows[0].text_sha256,
    ]  # fmt: skip
    assert output_columns(file.header) == ["ticket_id", "subject", "description", *PREDICTION_COLUMNS]


def test_an_input_column_named_like_a_prediction_column_is_refused(tmp_path):
    with pytest.raises(TicketClassifierError, match="named like the prediction's: confidence, model_version"):
        output_columns(["ticket_id", "confidence", "model_version"])


def test_resume_point_is_the_ids_already_written(tmp_path):
    file = source(tmp_path, ["A,VPN,down", "B,Mail,bounced", "C,Printer,jammed"])
    output = tmp_path / "out.csv"
    assert resume_point(output, file, "ticket_id") == set()
    write_output(output, file, file.rows[:2])
    assert resume_point(output, file, "ticket_id") == {"A", "B"}


def test_an_output_of_changed_text_is_refused_naming_the_ticket_and_line(tmp_path):
    file = source(tmp_path, ["A,VPN,down", "B,Mail,bounced"])
    output = tmp_path / "out.csv"
    write_output(output, file, file.rows)
    changed = source(tmp_path, ["A,VPN,down", "B,Mail,bounced twice"])
    with pytest.raises(TicketClassifierError, match=r"ticket 'B' has other text in the input \(line 3\)"):
        resume_point(output, changed, "ticket_id")


def test_an_output_with_a_ticket_the_input_lacks_is_refused(tmp_path):
    file = source(tmp_path, ["A,VPN,down", "B,Mail,bounced"])
    output = tmp_path / "out.csv"
    write_output(output, file, file.rows)
    with pytest.raises(TicketClassifierError, match="ticket 'B' is not in the input"):
        resume_point(output, source(tmp_path, ["A,VPN,down"]), "ticket_id")


def test_an_output_of_another_shape_is_refused(tmp_path):
    output = tmp_path / "out.csv"
    output.write_text("a,b\n1,2\n")
    with pytest.raises(TicketClassifierError, match="not a predictions file of this input"):
        resume_point(output, source(tmp_path, ["A,VPN,down"]), "ticket_id")


@pytest.mark.parametrize(
    "content, kept",
    [
        (b"head\nrow 1\nrow 2\n", b"head\nrow 1\nrow 2\n"),
        (b"head\nrow 1\nrow", b"head\nrow 1\n"),
        (b"head", b""),
        (b"", b""),
    ],
)
def test_a_torn_last_line_is_cut(tmp_path, content, kept):
    path = tmp_path / "out.csv"
    path.write_bytes(content)
    cut_torn_last_line(path)
    assert path.read_bytes() == kept


def test_a_torn_line_longer_than_the_read_window_is_cut_whole(tmp_path):
    path = tmp_path / "out.csv"
    path.write_bytes(b"head\n" + b"x" * 70000)
    cut_torn_last_line(path)
    assert path.read_bytes() == b"head\n"


def test_restoring_input_order_renumbers_lines_from_this_input(tmp_path):
    earlier = source(tmp_path, ["C,Printer,jammed", "A,VPN,down"])
    output = tmp_path / "out.csv"
    write_output(output, earlier, earlier.rows)
    now = source(tmp_path, ["A,VPN,down", "B,Mail,bounced", "C,Printer,jammed"])
    write_output(output, now, [now.rows[1]])
    restore_input_order(output, now, "ticket_id")
    with output.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [(row["ticket_id"], row["input_line"]) for row in rows] == [("A", "2"), ("B", "3"), ("C", "4")]


def test_without_an_id_column_records_are_known_by_their_line(tmp_path):
    header = ["subject", "description", *PREDICTION_COLUMNS]
    record = ["VPN", "down", "Network", "0.9", "", "false", "", "v", "0.5", "7", "abc"]
    assert record_id(record, header, ["subject", "description"], "ticket_id") == "row-7"
    assert (
        record_id(["X1", *record], ["ticket_id", *header], ["ticket_id", "subject", "description"], "ticket_id") == "X1"
    )


def test_a_header_of_another_input_is_refused_whatever_its_order(tmp_path):
    file = source(tmp_path, ["A,VPN,down"])
    for header in (["a", "b"], ["zz", *output_columns(file.header)]):
        output = tmp_path / "out.csv"
        output.write_text(",".join(header) + "\n", encoding="utf-8")
        with pytest.raises(TicketClassifierError, match="not a predictions file of this input"):
            resume_point(output, file, "ticket_id")


@pytest.mark.parametrize("fingerprint", ["0" * 64, "f" * 64])
def test_any_other_fingerprint_is_refused(tmp_path, fingerprint):
    file = source(tmp_path, ["A,VPN,down"])
    output = tmp_path / "out.csv"
    record = prediction_row(file.rows[0], PREDICTION)
    record[-1] = fingerprint
    writer = OrderedWriter(output, output_columns(file.header), append=True)
    writer.write([record])
    writer.close()
    with pytest.raises(TicketClassifierError, match=r"ticket 'A' has other text in the input \(line 2\)"):
        resume_point(output, file, "ticket_id")


@pytest.mark.parametrize(
    "content, chunk, kept",
    [
        (b"head\nrow 1\nrow 2 torn", 4, b"head\nrow 1\n"),
        (b"ab\ncdefgh", 6, b"ab\n"),  # the newline is the last byte of the second window
        (b"ab\ncdefgh", 7, b"ab\n"),  # and inside the first one
        (b"\nxyz", 2, b"\n"),
        (b"no newline at all", 3, b""),
        (b"one\ntwo\n", 2, b"one\ntwo\n"),
        (b"abcdef\nghijklmnop", 4, b"abcdef\n"),  # found in a window that starts at byte 5
    ],
)
def test_a_torn_line_is_cut_across_read_windows(tmp_path, content, chunk, kept):
    path = tmp_path / "out.csv"
    path.write_bytes(content)
    cut_torn_last_line(path, chunk=chunk)
    assert path.read_bytes() == kept


def test_the_writer_writes_the_header_once_and_only_when_the_file_is_new_or_empty(tmp_path):
    path = tmp_path / "out.csv"
    header = ["a", "b"]
    for append, rows in ((True, [["1", "2"]]), (True, [["3", "4"]])):
        writer = OrderedWriter(path, header, append=append)
        writer.write(rows)
        writer.close()
    assert path.read_text() == "a,b\n1,2\n3,4\n"
    path.write_text("")
    OrderedWriter(path, header, append=True).close()
    assert path.read_text() == "a,b\n"
    writer = OrderedWriter(path, header, append=False)
    writer.write([["5", "6"]])
    writer.write([])
    writer.close()
    assert path.read_text() == "a,b\n5,6\n"


def test_the_writer_on_standard_output_neither_syncs_nor_closes_it(capsys):
    writer = OrderedWriter(None, ["a", "b"], append=False)
    writer.write([["1", "2"]])
    writer.close()
    print("still open")
    assert capsys.readouterr().out == "a,b\r\n1,2\r\nstill open\n"  # RFC 4180 line ends


def test_restoring_keeps_every_column_and_leaves_an_ordered_file_alone(tmp_path):
    file = source(tmp_path, ["A,VPN,down", "B,Mail,bounced"])
    output = tmp_path / "out.csv"
    write_output(output, file, list(reversed(file.rows)))
    restore_input_order(output, file, "ticket_id")
    with output.open(newline="", encoding="utf-8") as handle:
        records = list(csv.reader(handle))[1:]
    assert records == [[str(cell) for cell in prediction_row(row, PREDICTION)] for row in file.rows]
    before = (output.read_bytes(), output.stat().st_mtime_ns)
    restore_input_order(output, file, "ticket_id")
    assert (output.read_bytes(), output.stat().st_mtime_ns) == before
    assert not output.with_name(output.name + ".tmp").exists()


def test_restoring_reorders_whichever_way_the_rows_are_out_of_order(tmp_path):
    file = source(tmp_path, ["B,Mail,bounced", "A,VPN,down"])  # input order B, A
    output = tmp_path / "out.csv"
    write_output(output, file, [file.rows[1], file.rows[0]])  # written A, B
    restore_input_order(output, file, "ticket_id")
    with output.open(newline="", encoding="utf-8") as handle:
        assert [row["ticket_id"] for row in csv.DictReader(handle)] == ["B", "A"]
