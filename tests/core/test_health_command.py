"""``python3 -m ticket_classifier.health``, the probe command of the Kubernetes manifests: its bad input."""

import pytest

from ticket_classifier.health import main
from ticket_classifier.server import free_port


@pytest.mark.parametrize("timeout", ["0", "-1", "soon"])
def test_a_bad_timeout_is_a_usage_error(timeout, capsys):
    with pytest.raises(SystemExit) as stopped:
        main(["--timeout", timeout])
    assert stopped.value.code == 2
    assert "--timeout" in capsys.readouterr().err


def test_no_server_is_not_ready_with_the_reason(capsys):
    assert main(["--url", f"http://127.0.0.1:{free_port()}", "--timeout", "2"]) == 1
    assert capsys.readouterr().out.startswith("not ready: no answer")
