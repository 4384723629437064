"""gRPC over TLS against a real server with a self-signed certificate."""

import subprocess

import pytest

from ticket_classifier.clients.client import TicketClassifierClient
from ticket_classifier.clients.protocol import RetryPolicy, TlsOptions
from ticket_classifier.errors import TicketClassifierError
from ticket_classifier.server import ServerConfig, TritonServer

pytestmark = [pytest.mark.integration, pytest.mark.parametrize("tiny_model", ["bert"], indirect=True)]


@pytest.fixture(scope="module")
def tls_server(tiny_model, tmp_path_factory):
    folder = tmp_path_factory.mktemp("tls")
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout",
            str(folder / "key.pem"),
            "-out",
            str(folder / "cert.pem"),
        ],
        check=True,
        capture_output=True,
    )
    config = ServerConfig.on_free_ports(
        grpc_tls_certificate=str(folder / "cert.pem"), grpc_tls_private_key=str(folder / "key.pem")
    )
    with TritonServer(tiny_model.repository, config) as server:
        yield server, folder / "cert.pem"


def test_tls_client_classifies(tls_server, tiny_server):
    server, certificate = tls_server
    url = server.grpc_url.replace("127.0.0.1", "localhost")
    tls = TlsOptions(enabled=True, root_certificates=str(certificate))
    with TicketClassifierClient(url, tls=tls) as client:
        over_tls = client.classify("VPN down", "cannot connect")
    with TicketClassifierClient(tiny_server.grpc_url) as client:
        plain = client.classify("VPN down", "cannot connect")
    # the same model answers over TLS: same decision, same probabilities
    assert over_tls.to_dict() == plain.to_dict()


def test_plaintext_client_is_refused_clearly(tls_server):
    server, _ = tls_server
    with TicketClassifierClient(server.grpc_url, retry=RetryPolicy(max_attempts=1), timeout_s=3) as client:
        with pytest.raises(TicketClassifierError, match=server.grpc_url):
            client.classify("VPN down", "cannot connect")


@pytest.mark.filterwarnings(
    "ignore::pytest.PytestUnraisableExceptionWarning"
)  # tritonclient.__del__ after a failed init
def test_unreadable_certificate_is_named(tiny_model, tmp_path):
    tls = TlsOptions(enabled=True, root_certificates=str(tmp_path / "missing.pem"))
    with pytest.raises(TicketClassifierError, match="cannot create a grpc client"):
        TicketClassifierClient("localhost:1", tls=tls)
