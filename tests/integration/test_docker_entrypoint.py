"""The serving image's entry point (deploy/docker/entrypoint.sh), run with the real pip tritonserver.

Docker cannot run here, so the script runs directly: a ``tritonserver`` on ``PATH`` execs the
pip wheel's binary with the backend folder the NGC image would have built in.
"""

import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

from ticket_classifier.admin_key import ADMIN_KEY_HEADER, RESTRICTED_APIS
from ticket_classifier.health import probe
from ticket_classifier.server import TritonInstallation, TritonServer, _link_python_backend, free_ports

pytestmark = [
    pytest.mark.integration,
    pytest.mark.reliability,
    pytest.mark.parametrize("tiny_model", ["bert"], indirect=True),
]
ROOT = Path(__file__).resolve().parents[2]
ENTRYPOINT = ROOT / "deploy" / "docker" / "entrypoint.sh"
DOCKERFILE = ROOT / "Dockerfile"
DEPLOYMENT = ROOT / "deploy" / "base" / "deployment.yaml"
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


def image_environment() -> dict[str, str]:
    """The ``ENV`` settings of the Dockerfile's server stage."""
    stage = DOCKERFILE.read_text().split(" AS server", 1)[1]
    settings = {}
    for line in stage.splitlines():
        if line.startswith("ENV "):
            settings.update(item.split("=", 1) for item in line.removeprefix("ENV ").split())
    return settings


def start(repository: Path, image_path: str, read_only: bool = False, **env_values):
    """Run the entry point on loopback ports with the image's environment; returns ``(process,
    http_address)``. ``read_only``: the repository is bind-mounted read-only over itself, in a
    mount namespace of the process's own (as Docker's ``:ro`` and Kubernetes' ``readOnly`` do)."""
    http, grpc, metrics = free_ports(3)
    env = {key: value for key, value in TritonServer._environment().items() if key != "TICKET_CLASSIFIER_ADMIN_KEY"}
    env.update(image_environment())
    env.update(PATH=image_path, MODEL_REPOSITORY=str(repository), **env_values)
    arguments = [f"--{kind}-address=127.0.0.1" for kind in ("http", "grpc", "metrics")]
    arguments += [f"--http-port={http}", f"--grpc-port={grpc}", f"--metrics-port={metrics}"]
    command = [str(ENTRYPOINT), *arguments]
    if read_only:
        mount = 'mount --bind -o ro "$0" "$0" && exec "$@"'
        command = ["unshare", "--mount", "--propagation", "private", "sh", "-c", mount, str(repository), *command]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
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


def probe_files(folder: Path) -> Path:
    """Only the files the Dockerfile copies into the image for the health probe, in ``folder``."""
    copies = re.findall(r"^COPY ((?:[^\n]|\\\n)+?) (/opt/ticket-classifier/\S+)$", DOCKERFILE.read_text(), re.MULTILINE)
    assert copies, "the Dockerfile copies no health probe files"
    for sources, destination in copies:
        target = folder / destination.removeprefix("/opt/ticket-classifier/")
        target.mkdir(parents=True, exist_ok=True)
        for source in sources.replace("\\\n", " ").split():
            shutil.copy(ROOT / source, target)
    return folder


def manifest_probe(kind: str) -> tuple[list[str], int]:
    """The Deployment's ``kind`` probe command for the triton container, with this Python, and where its URL is."""
    deployment = yaml.safe_load(DEPLOYMENT.read_text())
    (triton,) = [c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == "triton"]
    command = triton[kind]["exec"]["command"]
    assert command[0] == "python3"
    return [sys._base_executable, *command[1:]], command.index("http://127.0.0.1:8000")


def run_probe(kind: str, address: str, files: Path) -> subprocess.CompletedProcess:
    """Run the manifest's probe with the image's Python path and nothing of this environment."""
    command, url_index = manifest_probe(kind)
    command[url_index] = f"http://{address}"
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(files), "PYTHONNOUSERSITE": "1"}
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)


def test_on_a_read_only_repository_it_serves_writes_nothing_and_the_manifest_probes_tell_the_truth(
    tiny_model, image_path, tmp_path
):
    repository = tmp_path / "repository"
    shutil.copytree(tiny_model.repository, repository)
    before = sorted(path.relative_to(repository) for path in repository.rglob("*"))
    files = probe_files(tmp_path / "image")
    process, address = start(repository, image_path, read_only=True, TICKET_CLASSIFIER_ADMIN_KEY_FILE="/none")
    try:
        wait_serving(process, address)
        for kind in ("readinessProbe", "livenessProbe"):
            result = run_probe(kind, address, files)
            assert result.returncode == 0 and result.stdout.startswith("ready: model version"), result
        deployment = yaml.safe_load(DEPLOYMENT.read_text())
        (triton,) = [c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == "triton"]
        startup = triton["startupProbe"]["httpGet"]["path"]
        with urllib.request.urlopen(f"http://{address}{startup}", timeout=10) as response:
            assert response.status == 200
    finally:
        errors = stop(process)
    assert "Read-only file system" not in errors
    assert sorted(path.relative_to(repository) for path in repository.rglob("*")) == before
    stopped = run_probe("readinessProbe", address, files)
    assert stopped.returncode == 1 and stopped.stdout.startswith("not ready: no answer"), stopped
