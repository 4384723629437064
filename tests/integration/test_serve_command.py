"""``ticket-classifier serve`` (what ``make serve`` runs): foreground, Ctrl-C stops it cleanly."""

import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from ticket_classifier.server import free_port, shm_regions

pytestmark = pytest.mark.integration


def test_serve_runs_until_ctrl_c_and_stops_cleanly(tiny_model):
    ports = [free_port() for _ in range(3)]
    before = shm_regions()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ticket_classifier.cli",
            "serve",
            "--model-repository",
            str(tiny_model.repository),
            "--http-port",
            str(ports[0]),
            "--grpc-port",
            str(ports[1]),
            "--metrics-port",
            str(ports[2]),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        ready_line = process.stdout.readline()
        assert "tritonserver ready" in ready_line, ready_line
        with urllib.request.urlopen(f"http://127.0.0.1:{ports[0]}/v2/health/ready", timeout=5) as response:
            assert response.status == 200
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
    output = process.stdout.read()
    assert "stopping tritonserver" in output
    time.sleep(0.5)
    assert shm_regions() - before == set()
