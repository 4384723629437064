"""The command line: help, and bad input ending in one line on stderr with exit code 1."""

import subprocess
import sys

import pytest

from ticket_classifier.cli import main

COMMANDS = ["demo-data", "train", "evaluate", "export", "build-repository", "rollout", "serve", "classify", "demo"]


def run(capsys, *argv):
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err.strip()


def assert_one_line_error(code, error, *fragments):
    assert code == 1
    assert error.startswith("error: ") and "\n" not in error, error
    for fragment in fragments:
        assert fragment in error


def test_help_lists_every_command():
    result = subprocess.run([sys.executable, "-m", "ticket_classifier.cli", "--help"], capture_output=True, text=True)
    assert result.returncode == 0
    for command in COMMANDS:
        assert command in result.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_each_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert "usage: ticket-classifier " + command in capsys.readouterr().out


def test_demo_data_writes_the_file(tmp_path, capsys):
    code, out, _ = run(capsys, "demo-data", "--output", str(tmp_path / "d.csv"), "--rows", "50")
    assert code == 0 and (tmp_path / "d.csv").is_file() and "wrote 50" in out


def test_demo_data_rejects_zero_rows(tmp_path, capsys):
    code, _, error = run(capsys, "demo-data", "--output", str(tmp_path / "d.csv"), "--rows", "0")
    assert_one_line_error(code, error, "n_rows")


def test_train_with_missing_data_file(tmp_path, capsys):
    code, _, error = run(capsys, "train", "--config", "configs/demo.yaml", "--data", str(tmp_path / "absent.csv"))
    assert_one_line_error(code, error, "data file not found", "absent.csv")


def test_train_with_missing_columns(tmp_path, capsys):
    data = tmp_path / "bad.csv"
    data.write_text("title,body\nVPN,down\n")
    code, _, error = run(capsys, "train", "--config", "configs/demo.yaml", "--data", str(data))
    assert_one_line_error(code, error, "lacks required column(s) subject, description, category, created_at", "bad.csv")


def test_train_with_unknown_config_key(tmp_path, capsys):
    config = tmp_path / "c.yaml"
    config.write_text("model:\n  encoderr: minilm\n")
    code, _, error = run(capsys, "train", "--config", str(config))
    assert_one_line_error(code, error, "unknown config key 'model.encoderr'")


def test_export_with_missing_checkpoint(tmp_path, capsys):
    code, _, error = run(capsys, "export", "--checkpoint", str(tmp_path / "nothing"))
    assert_one_line_error(code, error, "checkpoint folder not found")


@pytest.mark.slow
def test_build_repository_with_missing_onnx(tiny_model, tmp_path, capsys):
    code, _, error = run(
        capsys,
        "build-repository",
        "--checkpoint",
        str(tiny_model.checkpoint),
        "--onnx-dir",
        str(tmp_path / "missing"),
        "--output",
        str(tmp_path / "repo"),
    )
    assert_one_line_error(code, error, "build_report.json is missing", "ticket-classifier export")
    assert not (tmp_path / "repo").exists()


def test_serve_with_missing_repository(tmp_path, capsys):
    code, _, error = run(capsys, "serve", "--model-repository", str(tmp_path / "none"))
    assert_one_line_error(code, error, "model repository not found")


def test_classify_without_text(capsys):
    code, _, error = run(capsys, "classify")
    assert_one_line_error(code, error, "--subject")


def test_classify_with_unreachable_server(capsys):
    from ticket_classifier.server import free_port

    port = free_port()
    code, _, error = run(capsys, "classify", "--subject", "VPN", "--url", f"127.0.0.1:{port}", "--protocol", "http")
    assert_one_line_error(code, error, f"127.0.0.1:{port}")


def test_train_rejects_zero_max_steps(capsys):
    code, _, error = run(capsys, "train", "--max-steps", "0")
    assert_one_line_error(code, error, "--max-steps")


@pytest.mark.slow
def test_export_rejects_an_unknown_precision(tiny_model, tmp_path, capsys):
    code, _, error = run(
        capsys,
        "export",
        "--checkpoint",
        str(tiny_model.checkpoint),
        "--output-dir",
        str(tmp_path),
        "--precisions",
        "fp8",
    )
    assert_one_line_error(code, error, "precisions must be among fp32, fp16, int8")


def test_export_rejects_zero_parity_samples(capsys):
    code, _, error = run(capsys, "export", "--parity-samples", "0")
    assert_one_line_error(code, error, "--parity-samples")


@pytest.mark.slow
def test_rollout_without_a_server(tiny_model, capsys):
    from ticket_classifier.server import free_port

    url = f"127.0.0.1:{free_port()}"
    code, _, error = run(
        capsys, "rollout", "--model-repository", str(tiny_model.repository), "--version", "1", "--url", url
    )
    assert_one_line_error(code, error, f"no Triton server answers at http://{url}")


@pytest.mark.slow
def test_rollout_of_a_missing_version(tiny_model, capsys):
    code, _, error = run(capsys, "rollout", "--model-repository", str(tiny_model.repository), "--version", "9")
    assert_one_line_error(code, error, "version 9 of ticket_classifier_tokenizer is not in")
