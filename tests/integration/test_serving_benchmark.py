"""The serving benchmark command: a table and a JSON file from a real server."""

import json

import pytest

from ticket_classifier.cli import main

pytestmark = [pytest.mark.integration, pytest.mark.parametrize("tiny_model", ["bert"], indirect=True)]


def run_benchmark(tiny_model, data, arguments: list[str]) -> int:
    """``ticket-classifier benchmark-serving`` on the tiny model with extra arguments; the exit code."""
    model = ["--checkpoint", str(tiny_model.checkpoint), "--onnx-dir", str(tiny_model.onnx.parent)]
    return main(["benchmark-serving", *model, "--data", str(data), *arguments])


def test_benchmark_prints_a_table_and_writes_json(tiny_model, demo_csv, tmp_path, capsys):
    output = tmp_path / "serving.json"
    code = run_benchmark(
        tiny_model,
        demo_csv,
        [
            "--variants",
            "fp32,fp32-no-buckets",
            "--concurrency",
            "1,4",
            "--requests",
            "20",
            "--output",
            str(output),
        ],
    )
    assert code == 0
    rows = json.loads(output.read_text())["results"]
    assert [(row["variant"], row["concurrency"]) for row in rows] == [
        ("fp32", 1),
        ("fp32", 4),
        ("fp32-no-buckets", 1),
        ("fp32-no-buckets", 4),
    ]
    assert all(row["errors"] == 0 and row["classifier_average_batch_size"] >= 1 for row in rows)
    assert "req/s" in capsys.readouterr().out


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--variants", "fp64"], "unknown benchmark variant"),
        (["--concurrency", "a,b"], "--concurrency must be comma-separated integers"),
        (["--requests", "0"], "at least 1"),
        (["--text-fields", "a,b,c"], "--text-fields"),
    ],
)
def test_bad_arguments(tiny_model, demo_csv, arguments, message, capsys):
    code = run_benchmark(tiny_model, demo_csv, arguments)
    assert code == 1 and message in capsys.readouterr().err


def test_missing_data_file(tiny_model, tmp_path, capsys):
    code = main(["benchmark-serving", "--data", str(tmp_path / "none.csv")])
    assert code == 1 and "data file not found" in capsys.readouterr().err
