"""Start-up failures end with one clear message."""

import socket

import pytest

from ticket_classifier.cli import main
from ticket_classifier.errors import TicketClassifierError
from ticket_classifier.server import ServerConfig, TritonServer

pytestmark = pytest.mark.integration


def test_port_in_use_is_named(tiny_model):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        busy = holder.getsockname()[1]
        config = ServerConfig(http_port=busy, grpc_port=0, metrics_port=0, bind_address="127.0.0.1")
        with pytest.raises(TicketClassifierError, match=f"port {busy} \\(http port\\) is already in use"):
            TritonServer(tiny_model.repository, config).start()


def test_serve_command_reports_busy_port_in_one_line(tiny_model, capsys):
    with socket.socket() as holder:
        holder.bind(("0.0.0.0", 0))
        holder.listen()
        busy = holder.getsockname()[1]
        code = main(["serve", "--model-repository", str(tiny_model.repository), "--grpc-port", str(busy)])
    error = capsys.readouterr().err.strip()
    assert code == 1
    assert error.count("\n") == 0
    assert f"port {busy}" in error and "already in use" in error


def test_missing_repository_is_named(tmp_path):
    with pytest.raises(TicketClassifierError, match="model repository not found"):
        TritonServer(tmp_path / "nowhere").start()


def test_an_unwritable_log_file_is_named_and_leaves_nothing_running(tiny_model, tmp_path):
    config = ServerConfig.on_free_ports(log_file=str(tmp_path / "missing" / "tritonserver.log"))
    server = TritonServer(tiny_model.repository, config)
    with pytest.raises(TicketClassifierError, match=r"cannot write Triton's log to .*missing/tritonserver.log"):
        server.start()
    assert server.process is None
