"""The README plot script's arguments: bad ones end with a clear error (the real run is an integration test)."""

import pytest

from ticket_classifier.commands.psi_plot import main


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--batch", "0"], "must be at least 1"),
        (["--count-window", "0"], "must be at least 1"),
        (["--model-repository", "no/such/folder"], "model repository not found"),
    ],
)
def test_psi_plot_script_bad_arguments(arguments, message, tmp_path, capsys):
    assert main(["--output", str(tmp_path / "psi.png"), *arguments]) == 1
    assert message in capsys.readouterr().err
