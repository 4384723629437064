"""The serving image's entry point (deploy/docker/entrypoint.sh), run with the real pip tritonserver.

Docker cannot run here, so the script runs directly: a ``tritonserver`` on ``PATH`` execs the
pip wheel's binary with the backend folder the NGC image would have built in.
"""

import os
import re
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from ticket_classifier.admin_key import ADMIN_KEY_HEADER, RESTRICTED_APIS
from ticket_classifier.health import probe
from ticket_classifier.server import TritonInstallation, TritonServer, _link_python_backend, free_port

pytestmark = [
    pytest.mark.integration,
    pytest.mark.reliability,
    pytest.mark.parametrize("tiny_model", ["bert"], indirect=True),
]
ENTRYPOINT = Path(__file__).resolve().parents[2] / "deploy" / "docker" / "entrypoint.sh"
KEY = "entrypoint-test-key-0123456789"


@pytest.fixture(scope="module")
def image_path(tmp_path_factory) -> str:
    """A ``PATH`` whose ``tritonserver`` is the pip server laid out as in the NGC image."""
    folder = tmp_path_factory.mktemp("image")
    installation = TritonInstallation.locate()
    _link_python_backend(installation, folder / "backends" / "python")
    binary = folder / "bin" / "tritonserver"
    binary.parent.mkdir()
    binary.write_text(
        "#!/bin/sh\n"
        f"exec {installation.server_binary} --backend-directory={folder / 'backends'} "
        f'--cache-directory={installation.caches} --allow-gpu-metrics=false --pinned-memory-pool-byte-size=0 "$@"\n'
    )
    binary.chmod(0o755)
    return f"{binary.parent}{os.pathsep}{TritonServer._environment()['PATH']}"


def start(repository: Path, image_path: str, **env_values):
    """Run the entry point on loopback ports; returns ``(process, http_address)``."""
    http, grpc, metrics = free_port(), free_port(), free_port()
    env = {key: value for key, value in TritonServer._environment().items() if key != "TICKET_CLASSIFIER_ADMIN_KEY"}
    env.update(PATH=image_path, MODEL_REPOSITORY=str(repository), **env_values)
    arguments = [f"--{kind}-address=127.0.0.1" for kind in ("http", "grpc", "metrics")]
    arguments += [f"--http-port={http}", f"--grpc-port={grpc}", f"--metrics-port={metrics}"]
    process = subprocess.Popen(
        [str(ENTRYPOINT), *arguments], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    return process, f"127.0.0.1:{http}"


def index_status(address: str, key: str | None) -> int:
    """Status of the repository index, with or without the admin key."""
    headers = {ADMIN_KEY_HEADER: key} if key else {}
    request = urllib.request.Request(f"http://{address}/v2/repository/index", data=b"{}", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def wait_serving(process, address: str) -> None:
    """Until a real ticket goes through (or the process ends)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if probe(f"http://{address}", timeout_s=5).ok:
            return
        time.sleep(0.3)
    raise AssertionError(
        f"the entry point did not serve: {process.stderr.read() if process.poll() is not None else ''}"
    )


def stop(process) -> str:
    """Stop the server as Docker would (SIGTERM); returns its stderr."""
    process.terminate()
    process.wait(timeout=60)
    return process.stderr.read()


def test_with_a_key_file_model_control_needs_the_key(tiny_model, image_path, tmp_path):
    key_file = tmp_path / "admin-key"
    key_file.write_text(KEY + "\n")
    process, address = start(tiny_model.repository, image_path, TICKET_CLASSIFIER_ADMIN_KEY_FILE=str(key_file))
    try:
        wait_serving(process, address)
        assert index_status(address, None) == 403
        assert index_status(address, "wrong-key-0123456789") == 403
        assert index_status(address, KEY) == 200
    finally:
        stop(process)


def test_without_a_key_it_serves_and_model_control_is_closed(tiny_model, image_path, tmp_path):
    process, address = start(tiny_model.repository, image_path, TICKET_CLASSIFIER_ADMIN_KEY_FILE=str(tmp_path / "none"))
    try:
        wait_serving(process, address)
        assert index_status(address, None) == 403
    finally:
        errors = stop(process)
    assert "no admin key given: model control is closed" in errors


@pytest.mark.parametrize("key, message", [("short", "at least 16 characters"), ("has space " * 3, "only letters")])
def test_a_bad_key_stops_it_with_a_clear_error(tiny_model, image_path, tmp_path, key, message):
    process, _ = start(
        tiny_model.repository,
        image_path,
        TICKET_CLASSIFIER_ADMIN_KEY_FILE=str(tmp_path / "none"),
        TICKET_CLASSIFIER_ADMIN_KEY=key,
    )
    assert process.wait(timeout=30) == 1
    assert message in process.stderr.read()


def test_the_script_restricts_the_same_apis_as_serve(tiny_model):
    restricted = re.search(r'restricted="([^:]+):([^=]+)=', ENTRYPOINT.read_text())
    assert restricted.group(1).split(",") == list(RESTRICTED_APIS)
    assert restricted.group(2) == ADMIN_KEY_HEADER
