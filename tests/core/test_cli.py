"""The command line: help, and bad input ending in one line on stderr with exit code 1."""

import argparse
import subprocess
import sys

import pytest
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2

from ticket_classifier.cli import build_parser, main
from ticket_classifier.runtime.contract import LENGTH_BUCKETS_PARAMETER, PIPELINE

COMMANDS = [
    "demo-data",
    "train",
    "distill",
    "evaluate",
    "export",
    "build-repository",
    "rollout",
    "serve",
    "classify",
    "demo",
]


def run(capsys, *argv):
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err.strip()


def build_repository(capsys, checkpoint, onnx_dir, output, *extra):
    """Run ``build-repository`` on a checkpoint and ONNX folder into ``output``; (code, out, err)."""
    return run(
        capsys, "build-repository", "--checkpoint", str(checkpoint), "--onnx-dir", str(onnx_dir),
        "--output", str(output), *extra,
    )  # fmt: skip


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


def test_a_failed_train_run_leaves_its_reason_in_train_log(tmp_path, capsys):
    data = tmp_path / "bad.csv"
    data.write_text("title,body\nVPN,down\n")
    code, _, error = run(capsys, "train", "--data", str(data), "--output-dir", str(tmp_path / "out"))
    assert_one_line_error(code, error, "lacks required column(s)")
    log = (tmp_path / "out" / "train.log").read_text()
    assert "ERROR" in log and "training stopped:" in log and "lacks required column(s)" in log


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
    code, _, error = build_repository(capsys, tiny_model.checkpoint, tmp_path / "missing", tmp_path / "repo")
    assert_one_line_error(code, error, "build_report.json is missing", "ticket-classifier export")
    assert not (tmp_path / "repo").exists()


@pytest.mark.slow
@pytest.mark.parametrize("tiny_model", ["bert"], indirect=True)
@pytest.mark.parametrize("flag, parameter", [("16", "16"), ("16,48", "16,48"), ("none", "")])
def test_length_buckets_are_chosen_at_build_time_without_retraining(tiny_model, tmp_path, capsys, flag, parameter):
    repository = tmp_path / "repo"
    code, _, error = build_repository(
        capsys, tiny_model.checkpoint, tiny_model.onnx.parent, repository, "--length-buckets", flag
    )
    assert code == 0, error
    config = text_format.Parse((repository / PIPELINE / "config.pbtxt").read_text(), model_config_pb2.ModelConfig())
    assert config.parameters[LENGTH_BUCKETS_PARAMETER].string_value == parameter


@pytest.mark.parametrize("flag", ["a,b", "32;64"])
def test_bad_length_buckets_flag_is_named(capsys, flag):
    with pytest.raises(SystemExit) as stopped:
        main(["build-repository", "--length-buckets", flag])
    assert (
        stopped.value.code == 2 and "expected comma-separated lengths such as 32,64, or none" in capsys.readouterr().err
    )


@pytest.mark.slow
@pytest.mark.parametrize("tiny_model", ["bert"], indirect=True)
def test_an_old_production_config_with_length_bucketing_is_named(tiny_model, tmp_path, capsys):
    config = tmp_path / "production.yaml"
    config.write_text("repository:\n  length_bucketing: true\n")
    code, _, error = build_repository(
        capsys, tiny_model.checkpoint, tiny_model.onnx.parent, tmp_path / "repo", "--config", str(config)
    )
    assert_one_line_error(code, error, "length_bucketing was replaced by repository.length_buckets")


def test_serve_with_missing_repository(tmp_path, capsys):
    code, _, error = run(capsys, "serve", "--model-repository", str(tmp_path / "none"))
    assert_one_line_error(code, error, "model repository not found")


def test_serve_with_two_ports_alike(tmp_path, capsys):
    code, _, error = run(
        capsys, "serve", "--model-repository", str(tmp_path), "--grpc-port", "9100", "--metrics-port", "9100"
    )
    assert_one_line_error(code, error, "server ports must differ", "grpc_port 9100, metrics_port 9100")


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
    assert_one_line_error(code, error, "version 9 is not in")


def test_every_flag_has_help_that_states_its_default():
    from ticket_classifier.cli import build_parser

    parser = build_parser()
    (commands,) = [action for action in parser._actions if isinstance(action, argparse._SubParsersAction)]
    missing = []
    for name, command in commands.choices.items():
        for action in command._actions:
            if isinstance(action, argparse._HelpAction) or not action.option_strings:
                continue
            flag = f"{name} {action.option_strings[-1]}"
            if not action.help:
                missing.append(f"{flag}: no help")
            elif not isinstance(action, argparse._StoreTrueAction) and "default" not in action.help:
                missing.append(f"{flag}: default {action.default!r} not stated")
    assert not missing, "\n".join(missing)


def test_every_flag_the_readme_shows_exists_on_its_command(readme):
    subcommands = next(
        action for action in build_parser()._actions if isinstance(action, argparse._SubParsersAction)
    ).choices
    checked = 0
    for words in readme.commands():
        name = words[1]
        if name.startswith("-"):
            continue
        known = set(subcommands[name]._option_string_actions)
        flags = {word.strip("[]").split("=")[0] for word in words[2:] if word.strip("[").startswith("--")}
        assert flags <= known, f"README: ticket-classifier {name} has no {', '.join(sorted(flags - known))}"
        checked += len(flags)
    assert checked > 50  # the README's command-line block was found and read
