"""HTTPS in front of Triton: the documented nginx proxy (deploy/tls-proxy), run as the README says.

A real nginx with a certificate from a throwaway CA forwards to a real tritonserver: the typed
client, the admin (rollout's transport) and the drift monitor talk HTTPS to it; the edge refuses
model control without the key, the shared-memory and logging APIs, and oversized bodies.
"""

import json
import socket
import string
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from ticket_classifier.admin_key import ADMIN_KEY_ENV, ADMIN_KEY_HEADER
from ticket_classifier.clients.client import TicketClassifierClient
from ticket_classifier.clients.protocol import TlsOptions
from ticket_classifier.errors import TicketClassifierError
from ticket_classifier.monitoring.drift_monitor import DriftMonitor
from ticket_classifier.monitoring.settings import DriftMonitorConfig
from ticket_classifier.server import ServerConfig, TritonServer, free_port
from ticket_classifier.triton_admin import TritonAdmin, tls_context

pytestmark = [
    pytest.mark.integration,
    pytest.mark.reliability,
    pytest.mark.parametrize("tiny_model", ["bert"], indirect=True),
]
TEMPLATE = Path(__file__).resolve().parents[2] / "deploy" / "tls-proxy" / "nginx.conf.template"
KEY = "proxy-test-admin-key-0123456789"


def make_certificates(folder: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for 127.0.0.1 signed by it: ``(ca, certificate, key)``."""

    def openssl(*arguments):
        subprocess.run(["openssl", *arguments], check=True, capture_output=True, cwd=folder)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
            "-subj", "/CN=ticket-classifier test CA")  # fmt: skip
    openssl(
        "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "proxy.key", "-out", "proxy.csr", "-subj", "/CN=127.0.0.1"
    )
    (folder / "san.cnf").write_text("subjectAltName=IP:127.0.0.1\n")
    openssl("x509", "-req", "-in", "proxy.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "proxy.crt", "-days", "2", "-extfile", "san.cnf")  # fmt: skip
    return folder / "ca.crt", folder / "proxy.crt", folder / "proxy.key"


@pytest.fixture(scope="module")
def proxied(tiny_model, tmp_path_factory, require_binary):
    """``(server, https_url, ca_file)``: tritonserver with an admin key, behind nginx on HTTPS."""
    nginx = require_binary("nginx")
    folder = tmp_path_factory.mktemp("tls-proxy")
    ca, certificate, key = make_certificates(folder)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(ADMIN_KEY_ENV, KEY)
        server = TritonServer(tiny_model.repository, ServerConfig.on_free_ports())
    server.start()
    port = free_port()  # picked once the server holds its own ports
    values = {
        "PREFIX": str(folder),
        "LISTEN_PORT": str(port),
        "TRITON_HTTP": server.http_url,
        "TLS_CERTIFICATE": str(certificate),
        "TLS_CERTIFICATE_KEY": str(key),
    }
    (folder / "nginx.conf").write_text(string.Template(TEMPLATE.read_text()).safe_substitute(values))
    command = [nginx, "-p", str(folder), "-e", str(folder / "error.log"), "-c", str(folder / "nginx.conf")]
    command += ["-g", "daemon off; user root;"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert process.poll() is None, process.stdout.read().decode()
            time.sleep(0.1)
        yield server, f"https://127.0.0.1:{port}", ca
    finally:
        process.terminate()
        process.wait(timeout=10)
        server.stop()


def status(url: str, ca: Path, method: str = "GET", body: bytes | None = None, headers: dict | None = None) -> int:
    """HTTP status of one request through the proxy."""
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30, context=tls_context(str(ca))) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_the_typed_client_classifies_over_https(proxied):
    _, url, ca = proxied
    tls = TlsOptions(enabled=True, root_certificates=str(ca))
    with TicketClassifierClient(url.removeprefix("https://"), protocol="http", tls=tls) as client:
        prediction = client.classify("VPN keeps dropping", "since this morning")
    assert prediction.model_version.startswith("1-fp32-")


def test_an_untrusted_certificate_is_refused(proxied):
    _, url, _ = proxied
    with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
        urllib.request.urlopen(f"{url}/v2/health/ready", timeout=10)


def test_the_edge_refuses_control_without_the_key_and_internal_apis_always(proxied):
    _, url, ca = proxied
    assert status(f"{url}/v2/health/ready", ca) == 200
    assert status(f"{url}/v2/repository/index", ca, "POST", b"{}") == 403
    assert status(f"{url}/v2/repository/models/ticket_classifier/unload", ca, "POST", b"{}") == 403
    assert status(f"{url}/v2/systemsharedmemory/status", ca, headers={ADMIN_KEY_HEADER: KEY}) == 403
    assert status(f"{url}/v2/logging", ca, "POST", b"{}", headers={ADMIN_KEY_HEADER: KEY}) == 403
    oversized = json.dumps({"inputs": [{"name": "SUBJECT", "data": ["x" * (5 * 1024 * 1024)]}]}).encode()
    assert status(f"{url}/v2/models/ticket_classifier/infer", ca, "POST", oversized) == 413


def test_the_admin_works_over_https_with_the_key_and_is_refused_without(proxied):
    _, url, ca = proxied
    keyed = TritonAdmin(url, admin_key=KEY, ssl_context=tls_context(str(ca)))
    assert keyed.is_ready()
    assert {entry["name"] for entry in keyed.model_states()} >= {"ticket_classifier"}
    keyed.load_model("ticket_classifier")  # unchanged: a no-op, but it went through the edge and Triton's check
    wrong = TritonAdmin(url, admin_key="wrong-key-0123456789", ssl_context=tls_context(str(ca)))
    with pytest.raises(TicketClassifierError, match="refused the repository index"):
        wrong.model_states()


def test_the_drift_monitor_reads_readiness_over_https(proxied, tiny_model):
    server, url, ca = proxied
    config = DriftMonitorConfig(
        triton_url=url,
        triton_metrics_url=server.metrics_url,
        model_repository=str(tiny_model.repository),
        tls_ca_file=str(ca),
    )
    monitor = DriftMonitor(config)
    monitor.step()
    assert monitor.registry.get_sample_value("ticket_classifier_model_ready") == 1
