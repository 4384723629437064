"""``ticket-classifier classify --input --output``: every row accounted for, reruns skip done rows."""

import csv
import io
import os
import subprocess
import sys
import threading
import time

import pytest

from ticket_classifier.cli import main
from ticket_classifier.clients.output_file import PREDICTION_COLUMNS
from ticket_classifier.server import ServerConfig, TritonServer

pytestmark = pytest.mark.integration


def write_csv(path, rows, header=("ticket_id", "subject", "description")):
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def read_rows(path):
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def classify(server, *arguments):
    return main(["classify", "--url", server.grpc_url, "--config", "configs/production.yaml", *arguments])


@pytest.fixture
def tickets_csv(tmp_path):
    rows = [(f"T{i}", f"Printer {i} jammed", "paper stuck in tray 2") for i in range(40)]
    rows.append(("EMPTY", "", "  "))
    return write_csv(tmp_path / "tickets.csv", rows)


def test_file_is_classified_in_order_with_errors_summary_and_a_failing_exit(tiny_server, tickets_csv, tmp_path, capsys):
    output = tmp_path / "predictions.csv"
    arguments = ["--input", str(tickets_csv), "--output", str(output), "--batch-size", "7", "--concurrency", "4"]
    assert classify(tiny_server, *arguments) == 1
    captured = capsys.readouterr()
    predictions = read_rows(output)
    assert list(predictions[0]) == ["ticket_id", "subject", "description", *PREDICTION_COLUMNS]
    assert [row["ticket_id"] for row in predictions] == [f"T{i}" for i in range(40)]
    errors = read_rows(tmp_path / "predictions.errors.csv")
    assert [(row["ticket_id"], row["row"], row["reason"]) for row in errors] == [
        ("EMPTY", "42", "columns subject and description are empty")
    ]
    out = captured.out
    assert "rows: 41" in out and "classified now: 40" in out and "failed: 1" in out and "tickets/s" in out
    assert "1 of 41 rows failed; the reasons are in" in captured.err


def test_rerun_skips_rows_already_done(tiny_server, tickets_csv, tmp_path, capsys):
    output = tmp_path / "predictions.csv"
    done = write_csv(
        tmp_path / "first.csv", [(f"T{i}", f"Printer {i} jammed", "paper stuck in tray 2") for i in range(25, 35)]
    )
    assert classify(tiny_server, "--input", str(done), "--output", str(output)) == 0
    capsys.readouterr()
    assert classify(tiny_server, "--input", str(tickets_csv), "--output", str(output)) == 1  # the EMPTY row
    out = capsys.readouterr().out
    assert "already done (skipped): 10" in out and "of the 30 classified now (" in out  # not the file's rate
    ids = [row["ticket_id"] for row in read_rows(output)]
    assert ids == [f"T{i}" for i in range(40)], "a finished resumed run leaves the output in input order"


def test_rows_without_an_id_column_use_row_numbers(tiny_server, tmp_path):
    source = write_csv(tmp_path / "noid.csv", [("VPN", "down"), ("Mail", "bounced")], header=("subject", "description"))
    output = tmp_path / "out.csv"
    assert classify(tiny_server, "--input", str(source), "--output", str(output), "--protocol", "grpc") == 0
    assert [(row["subject"], row["input_line"]) for row in read_rows(output)] == [("VPN", "2"), ("Mail", "3")]


@pytest.mark.parametrize(
    "content, message",
    [
        ("subject,body\nVPN,down\n", "lacks column(s) description"),
        ("ticket_id,subject,description\nA,x,y\nA,z,w\n", "ticket id 'A' appears more than once"),
    ],
)
def test_bad_input_files(tiny_server, tmp_path, capsys, content, message):
    source = tmp_path / "in.csv"
    source.write_text(content)
    assert classify(tiny_server, "--input", str(source), "--output", str(tmp_path / "o.csv")) == 1
    assert message in capsys.readouterr().err


def test_not_utf8_input(tiny_server, tmp_path, capsys):
    source = tmp_path / "in.csv"
    source.write_bytes(b"subject,description\ncaf\xe9,x\n")
    assert classify(tiny_server, "--input", str(source), "--output", str(tmp_path / "o.csv")) == 1
    assert "not valid UTF-8" in capsys.readouterr().err


def test_output_of_another_shape_is_not_appended_to(tiny_server, tickets_csv, tmp_path, capsys):
    other = tmp_path / "other.csv"
    other.write_text("a,b\n1,2\n")
    assert classify(tiny_server, "--input", str(tickets_csv), "--output", str(other)) == 1
    assert "not a predictions file of this input" in capsys.readouterr().err
    assert other.read_text() == "a,b\n1,2\n"


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--input", "x.csv"], "needs both --input and --output"),
        (["--input", "same.csv", "--output", "same.csv"], "must not be the --input file"),
        (["--input", "absent.csv", "--output", "o.csv"], "input file not found"),
        (["--input", "IN", "--output", "o.csv", "--concurrency", "0"], "at least 1"),
    ],
)
def test_bad_arguments(tiny_server, tickets_csv, tmp_path, capsys, arguments, message):
    arguments = [str(tickets_csv) if a == "IN" else (str(tmp_path / a) if a.endswith(".csv") else a) for a in arguments]
    assert classify(tiny_server, *arguments) == 1
    assert message in capsys.readouterr().err


def test_unreachable_server_sends_nothing(tickets_csv, tmp_path, capsys):
    from ticket_classifier.server import free_port

    output = tmp_path / "o.csv"
    code = main(["classify", "--url", f"127.0.0.1:{free_port()}", "--input", str(tickets_csv), "--output", str(output)])
    assert code == 1 and "nothing was sent" in capsys.readouterr().err


def test_an_output_of_other_input_with_the_same_ids_is_refused(tiny_server, tickets_csv, tmp_path, capsys):
    output = tmp_path / "predictions.csv"
    other = write_csv(tmp_path / "other.csv", [(f"T{i}", f"VPN {i} down", "cannot connect") for i in range(20)])
    assert classify(tiny_server, "--input", str(other), "--output", str(output)) == 0
    before = output.read_bytes()
    capsys.readouterr()
    assert classify(tiny_server, "--input", str(tickets_csv), "--output", str(output)) == 1
    assert "was written for other input: ticket 'T0' has other text in the input (line 2)" in capsys.readouterr().err
    assert output.read_bytes() == before


def test_row_number_ids_of_another_file_are_refused(tiny_server, tmp_path, capsys):
    header = ("subject", "description")
    first = write_csv(tmp_path / "a.csv", [("VPN", "down"), ("Mail", "bounced")], header=header)
    second = write_csv(tmp_path / "b.csv", [("Printer", "jammed"), ("Disk", "full"), ("Badge", "lost")], header=header)
    output = tmp_path / "out.csv"
    assert classify(tiny_server, "--input", str(first), "--output", str(output)) == 0
    assert classify(tiny_server, "--input", str(second), "--output", str(output)) == 1
    assert "ticket 'row-2' has other text" in capsys.readouterr().err


@pytest.mark.reliability
def test_a_torn_last_line_is_cut_and_its_row_done_again(tiny_server, tickets_csv, tmp_path):
    output = tmp_path / "predictions.csv"
    assert classify(tiny_server, "--input", str(tickets_csv), "--output", str(output)) == 1
    complete = output.read_bytes()
    lines = complete.splitlines(keepends=True)
    output.write_bytes(b"".join(lines[:11]) + lines[11][: len(lines[11]) // 2])  # killed mid-write of row 11
    assert classify(tiny_server, "--input", str(tickets_csv), "--output", str(output)) == 1
    rows = read_rows(output)
    assert [row["ticket_id"] for row in rows] == [f"T{i}" for i in range(40)]
    assert all(row["text_sha256"] and row["predicted_category"] for row in rows)


@pytest.mark.reliability
def test_malformed_records_are_reported_by_line_and_never_swallow_rows(tiny_server, tmp_path):
    source = tmp_path / "quotes.csv"
    source.write_text(
        "ticket_id,subject,description\n"
        "A,VPN,down\n"
        'B,"unbalanced quote,cannot connect\n'
        "C,Printer,jammed\n"
        "D,too,many,fields\n"
        "E,Mail,bounced\n",
        encoding="utf-8",
    )
    output = tmp_path / "out.csv"
    assert classify(tiny_server, "--input", str(source), "--output", str(output)) == 1
    assert [row["ticket_id"] for row in read_rows(output)] == ["A", "C", "E"]
    errors = {row["row"]: row["reason"] for row in read_rows(tmp_path / "out.errors.csv")}
    assert set(errors) == {"3", "5"}
    assert "line 3 cannot be read as CSV" in errors["3"] and "only this line is skipped" in errors["3"]
    assert "line 5 has 4 fields where the header has 3" in errors["5"]


@pytest.mark.reliability
def test_an_oversized_cell_goes_to_the_errors_file_with_its_row(tiny_server, tmp_path):
    rows = [("A", "VPN", "down"), ("BIG", "huge", "x" * (2 * 1024 * 1024)), ("C", "Printer", "jammed")]
    source = write_csv(tmp_path / "big.csv", rows)
    output = tmp_path / "out.csv"
    assert classify(tiny_server, "--input", str(source), "--output", str(output)) == 1
    assert [row["ticket_id"] for row in read_rows(output)] == ["A", "C"]
    errors = read_rows(tmp_path / "out.errors.csv")
    assert [(row["ticket_id"], row["row"]) for row in errors] == [("BIG", "3")]
    assert "description is 2097152 bytes, over the limit of 65536 bytes" in errors[0]["reason"]


def test_a_utf8_bom_header_is_read(tiny_server, tmp_path):
    source = tmp_path / "bom.csv"
    source.write_bytes("\ufeffticket_id,subject,description\nA,VPN,down\n".encode())
    output = tmp_path / "out.csv"
    assert classify(tiny_server, "--input", str(source), "--output", str(output)) == 0
    assert [row["ticket_id"] for row in read_rows(output)] == ["A"]


@pytest.mark.reliability
def test_a_server_that_disappears_stops_the_run_which_resumes_later(tiny_model, tmp_path, capsys):
    rows = [(f"T{i}", f"Printer {i} jammed", "paper stuck in tray 2") for i in range(1500)]
    source = write_csv(tmp_path / "many.csv", rows)
    output = tmp_path / "out.csv"
    config = ServerConfig.on_free_ports()
    server = TritonServer(tiny_model.repository, config)
    server.start()
    url = server.grpc_url
    arguments = ["classify", "--url", url, "--input", str(source), "--output", str(output), "--batch-size", "4"]
    arguments += ["--concurrency", "2", "--max-consecutive-failures", "3"]
    outcome = {}
    runner = threading.Thread(target=lambda: outcome.update(code=main(arguments)))
    runner.start()
    deadline = time.monotonic() + 120
    while (not output.exists() or output.read_text().count("\n") < 50) and time.monotonic() < deadline:
        time.sleep(0.05)
    server.stop()
    runner.join(timeout=300)
    first = capsys.readouterr()
    assert outcome["code"] == 1 and "stopped early: 3 batches in a row could not be served" in first.err
    failed = read_rows(tmp_path / "out.errors.csv")
    assert len(failed) <= 3 * 4 * 2, "the run stops instead of sending every remaining row to the errors file"
    done = len(read_rows(output))
    assert done + len(failed) < 1500 and "rows not sent yet: run the same command again to resume" in first.out
    server.start()
    try:
        assert main(arguments) == 0
    finally:
        server.stop()
    assert [row["ticket_id"] for row in read_rows(output)] == [f"T{i}" for i in range(1500)]


def test_one_text_column_and_every_input_column_carried_through(tiny_server, tmp_path):
    source = write_csv(
        tmp_path / "one.csv",
        [
            ("C-1", "VPN keeps dropping since this morning", "EMEA"),
            ("C-2", "Printer jammed again", "APAC"),
            ("C-3", " ", "EMEA"),
        ],
        header=("case", "text", "region"),
    )
    output = tmp_path / "out.csv"
    code = classify(tiny_server, "--input", str(source), "--output", str(output), "--text-columns", "text")
    assert code == 1  # the empty row
    rows = read_rows(output)
    assert list(rows[0])[:3] == ["case", "text", "region"]
    assert [(row["case"], row["region"]) for row in rows] == [("C-1", "EMEA"), ("C-2", "APAC")]
    errors = read_rows(tmp_path / "out.errors.csv")
    assert [(row["ticket_id"], row["reason"]) for row in errors] == [("row-4", "column text is empty")]


def test_an_input_column_named_like_a_prediction_column_is_named(tiny_server, tmp_path, capsys):
    source = write_csv(tmp_path / "clash.csv", [("a", "b", "x")], header=("subject", "description", "confidence"))
    assert classify(tiny_server, "--input", str(source), "--output", str(tmp_path / "o.csv")) == 1
    assert "column(s) named like the prediction's: confidence" in capsys.readouterr().err


def test_standard_input_and_output_and_the_address_from_the_environment(tiny_server, tmp_path):
    csv_text = "ticket_id,subject,description\nA,VPN,down\nB,Printer,jammed\n"
    result = subprocess.run(
        [sys.executable, "-m", "ticket_classifier.cli", "classify", "--input", "-", "--output", "-"],
        input=csv_text,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "TICKET_CLASSIFIER_URL": tiny_server.grpc_url},
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [row["ticket_id"] for row in rows] == ["A", "B"] and all(row["predicted_category"] for row in rows)
    assert "rows: 2" in result.stderr
