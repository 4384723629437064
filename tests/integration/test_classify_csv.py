"""``ticket-classifier classify --input --output``: every row accounted for, reruns skip done rows."""

import csv

import pytest

from ticket_classifier.cli import main
from ticket_classifier.clients.batch import OUTPUT_COLUMNS

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


def test_file_is_classified_with_errors_and_summary(tiny_server, tickets_csv, tmp_path, capsys):
    output = tmp_path / "predictions.csv"
    assert classify(tiny_server, "--input", str(tickets_csv), "--output", str(output), "--batch-size", "7") == 0
    out = capsys.readouterr().out
    predictions = read_rows(output)
    assert list(predictions[0]) == list(OUTPUT_COLUMNS)
    assert sorted(row["ticket_id"] for row in predictions) == sorted(f"T{i}" for i in range(40))
    errors = read_rows(tmp_path / "predictions.errors.csv")
    assert [(row["ticket_id"], row["reason"]) for row in errors] == [
        ("EMPTY", "subject and description are both empty")
    ]
    assert "rows: 41" in out and "classified now: 40" in out and "failed: 1" in out and "tickets/s" in out


def test_rerun_skips_rows_already_done(tiny_server, tickets_csv, tmp_path, capsys):
    output = tmp_path / "predictions.csv"
    done = write_csv(tmp_path / "first.csv", [(f"T{i}", f"Printer {i} jammed", "paper stuck") for i in range(10)])
    assert classify(tiny_server, "--input", str(done), "--output", str(output)) == 0
    capsys.readouterr()
    assert (
        classify(
            tiny_server,
            "--input",
            str(tickets_csv),
            "--output",
            str(output),
            "--http" if False else "--protocol",
            "grpc",
        )
        == 0
    )
    assert "already done (skipped): 10" in capsys.readouterr().out
    ids = [row["ticket_id"] for row in read_rows(output)]
    assert len(ids) == len(set(ids)) == 40


def test_rows_without_an_id_column_use_row_numbers(tiny_server, tmp_path):
    source = write_csv(tmp_path / "noid.csv", [("VPN", "down"), ("Mail", "bounced")], header=("subject", "description"))
    output = tmp_path / "out.csv"
    assert classify(tiny_server, "--input", str(source), "--output", str(output), "--protocol", "grpc") == 0
    assert [row["ticket_id"] for row in read_rows(output)] == ["row-2", "row-3"]


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
    assert "not a predictions file" in capsys.readouterr().err
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
