"""Graceful degradation: a classifier that cannot load leaves the server live, not ready, and says why."""

import shutil
import signal
import subprocess
import urllib.request

import pytest

from ticket_classifier.cli import main
from ticket_classifier.errors import TicketClassifierError
from ticket_classifier.runtime.contract import CLASSIFIER
from ticket_classifier.server import ServerConfig, TritonServer

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def corrupted_repository(tiny_model, tmp_path_factory):
    repository = tmp_path_factory.mktemp("corrupted") / "repository"
    shutil.copytree(tiny_model.repository, repository)
    (repository / CLASSIFIER / "1" / "model.onnx").write_bytes(b"this is not an ONNX model")
    return repository


@pytest.fixture(scope="module")
def degraded_server(corrupted_repository):
    config = ServerConfig.on_free_ports()
    server = TritonServer(corrupted_repository, config)
    server.start(wait=False)
    failed = server.wait_until_settled()
    yield server, failed
    server.stop()


def test_server_is_live_but_not_ready_and_names_the_model(degraded_server):
    server, failed = degraded_server
    assert CLASSIFIER in failed and failed[CLASSIFIER].strip()
    assert server.admin.is_live() and not server.admin.is_ready()


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_client_says_model_not_ready(degraded_server, protocol, capsys):
    server, _ = degraded_server
    url = server.grpc_url if protocol == "grpc" else server.http_url
    code = main(["classify", "--subject", "VPN", "--description", "down", "--url", url, "--protocol", protocol])
    error = capsys.readouterr().err.strip()
    assert code == 1 and "\n" not in error
    assert "model 'ticket_classifier' is not ready" in error


def test_waiting_for_readiness_fails_naming_the_model(corrupted_repository):
    config = ServerConfig.on_free_ports()
    with pytest.raises(TicketClassifierError, match=f"model '{CLASSIFIER}' failed to load"):
        TritonServer(corrupted_repository, config).start()


def test_serve_command_keeps_serving_degraded_and_says_why(corrupted_repository, serve_command):
    served = serve_command(corrupted_repository, stderr=subprocess.PIPE)
    process = served.process
    served.read_until("DEGRADED (live, not ready)")
    served.read_until(f"model '{CLASSIFIER}' failed to load", stream="stderr")
    with urllib.request.urlopen(f"http://127.0.0.1:{served.http_port}/v2/health/live", timeout=5) as response:
        assert response.status == 200
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=60) == 0
