"""Reached from another host (a network namespace of our own), model control needs the admin key.

The server binds the host end of a veth pair; a second network stack (``ip netns``) plays the
stranger. Inference is open to it; unload, load (with or without uploaded model files),
the repository index, shared memory and logging are refused without the key.
"""

import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from ticket_classifier.admin_key import ADMIN_KEY_ENV, ADMIN_KEY_GRPC_HEADER, ADMIN_KEY_HEADER
from ticket_classifier.errors import TicketClassifierError
from ticket_classifier.server import ServerConfig, TritonServer
from ticket_classifier.triton_admin import TritonAdmin

pytestmark = [pytest.mark.integration, pytest.mark.reliability]
KEY = "test-admin-key-0123456789"
STRANGER = textwrap.dedent(
    """
    import base64, json, sys, urllib.error, urllib.request
    import tritonclient.grpc as grpcclient
    http, grpc, key_header, grpc_header, key, marker = sys.argv[1:7]

    def call(method, path, body=None, headers=None):
        request = urllib.request.Request(f"http://{http}{path}", data=body, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status
        except urllib.error.HTTPError as exc:
            return exc.code

    ticket = json.dumps({"inputs": [{"name": n, "shape": [1, 1], "datatype": "BYTES", "data": ["VPN down"]}
                                    for n in ("SUBJECT", "DESCRIPTION")]}).encode()
    code = "import os\\nopen(%r, 'w').write('pwned')\\n" % marker
    model_file = base64.b64encode(code.encode()).decode()
    upload = json.dumps({"parameters": {"config": "{}", "file:1/model.py": model_file}}).encode()
    results = {
        "infer": call("POST", "/v2/models/ticket_classifier/infer", ticket),
        "unload": call("POST", "/v2/repository/models/ticket_classifier/unload", b"{}"),
        "load_uploaded_code": call("POST", "/v2/repository/models/stranger/load", upload),
        "index": call("POST", "/v2/repository/index", b"{}"),
        "shared_memory": call("GET", "/v2/systemsharedmemory/status"),
        "logging": call("POST", "/v2/logging", json.dumps({"log_file": marker}).encode()),
        "ready_after": call("GET", "/v2/models/ticket_classifier/ready"),
    }
    try:
        grpcclient.InferenceServerClient(grpc).unload_model("ticket_classifier")
        results["grpc_unload"] = "OK"
    except Exception as exc:
        results["grpc_unload"] = exc.status()
    headers = {key_header: key}
    results["index_with_key"] = call("POST", "/v2/repository/index", b"{}", headers)
    grpcclient.InferenceServerClient(grpc).get_model_repository_index(headers={grpc_header: key})
    results["grpc_index_with_key"] = "OK"
    print(json.dumps(results))
    """
)


@pytest.fixture(scope="module")
def stranger_network():
    """``(host_address, namespace)``: a veth pair whose far end lives in a network namespace of its own."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        if os.environ.get("REQUIRE_SYSTEM_TOOLS") == "1":
            pytest.fail("network namespaces need root and iproute2 here")
        pytest.skip("network namespaces need root and iproute2 (ip)")
    tag = f"tc{os.getpid() % 100000}"
    namespace, host_end, far_end = tag, f"{tag}a", f"{tag}b"
    octet = os.getpid() % 250 + 1
    host, far = f"10.231.{octet}.1", f"10.231.{octet}.2"
    commands = [
        ["ip", "netns", "add", namespace],
        ["ip", "link", "add", host_end, "type", "veth", "peer", "name", far_end],
        ["ip", "link", "set", far_end, "netns", namespace],
        ["ip", "addr", "add", f"{host}/30", "dev", host_end],
        ["ip", "link", "set", host_end, "up"],
        ["ip", "netns", "exec", namespace, "ip", "addr", "add", f"{far}/30", "dev", far_end],
        ["ip", "netns", "exec", namespace, "ip", "link", "set", far_end, "up"],
        ["ip", "netns", "exec", namespace, "ip", "link", "set", "lo", "up"],
    ]
    try:
        for command in commands:
            subprocess.run(command, check=True, capture_output=True)
        yield host, namespace
    finally:
        subprocess.run(["ip", "netns", "del", namespace], capture_output=True)
        subprocess.run(["ip", "link", "del", host_end], capture_output=True)


def test_binding_beyond_loopback_without_a_key_is_refused(tiny_model, stranger_network, monkeypatch):
    host, _ = stranger_network
    monkeypatch.delenv(ADMIN_KEY_ENV, raising=False)
    with pytest.raises(TicketClassifierError, match=f"bind_address {host} is reachable from other hosts"):
        TritonServer(tiny_model.repository, ServerConfig(bind_address=host))
    with pytest.raises(TicketClassifierError, match="bind_address 0.0.0.0 is reachable from other hosts"):
        TritonServer(tiny_model.repository, ServerConfig(http_bind_address="0.0.0.0"))


def test_a_stranger_can_classify_but_not_control_models(tiny_model, stranger_network, monkeypatch, tmp_path):
    host, namespace = stranger_network
    monkeypatch.setenv(ADMIN_KEY_ENV, KEY)
    marker = tmp_path / "uploaded-code-ran"
    config = ServerConfig.on_free_ports(bind_address=host, http_bind_address=host)
    with TritonServer(tiny_model.repository, config) as server:
        arguments = [server.http_url, server.grpc_url, ADMIN_KEY_HEADER, ADMIN_KEY_GRPC_HEADER, KEY, str(marker)]
        result = subprocess.run(
            ["ip", "netns", "exec", namespace, sys.executable, "-c", STRANGER, *arguments],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        seen = json.loads(result.stdout)
        assert server.admin.is_ready()
    assert seen == {
        "infer": 200,
        "unload": 403,
        "load_uploaded_code": 403,
        "index": 403,
        "shared_memory": 403,
        "logging": 403,
        "ready_after": 200,
        "grpc_unload": "StatusCode.UNAVAILABLE",
        "index_with_key": 200,
        "grpc_index_with_key": "OK",
    }
    assert not marker.exists()


def test_the_keyed_admin_can_unload_and_load(tiny_model, monkeypatch):
    monkeypatch.setenv(ADMIN_KEY_ENV, KEY)
    config = ServerConfig.on_free_ports()
    with TritonServer(tiny_model.repository, config) as server:
        server.admin.unload_model("ticket_classifier")
        server.admin.load_model("ticket_classifier")
        server.admin.wait_for_model("ticket_classifier", timeout_s=60)
        with pytest.raises(
            TicketClassifierError, match="unloading model 'ticket_classifier' failed: This API is restricted"
        ):
            TritonAdmin(server.http_url).unload_model("ticket_classifier")
