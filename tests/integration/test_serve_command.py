"""``ticket-classifier serve`` (what ``make serve`` runs): foreground, Ctrl-C stops it cleanly."""

import signal
import subprocess
import time
import urllib.request

import pytest

from ticket_classifier.shared_memory import shm_regions

pytestmark = pytest.mark.integration


def test_serve_runs_until_ctrl_c_and_stops_cleanly(tiny_model, serve_command, tmp_path):
    before = shm_regions()
    served = serve_command(tiny_model.repository)
    process = served.process
    served.read_until("tritonserver ready")
    with urllib.request.urlopen(f"http://127.0.0.1:{served.http_port}/v2/health/ready", timeout=5) as response:
        assert response.status == 200
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=60) == 0
    output = process.stdout.read()
    assert "stopping tritonserver" in output
    log = tmp_path / "tritonserver.log"  # server.log_file, relative to the folder serve ran in: kept after the stop
    assert f"Triton's log: {log}" in output
    text = log.read_text()
    assert text.startswith("=== tritonserver started ") and "successfully loaded 'ticket_classifier'" in text
    time.sleep(0.5)
    assert shm_regions() - before == set()


def test_a_log_file_flag_in_a_missing_folder_is_a_one_line_error(tiny_model, serve_command, tmp_path):
    served = serve_command(tiny_model.repository, stderr=subprocess.PIPE, extra=("--log-file", "missing/second.log"))
    assert served.process.wait(timeout=60) == 1
    errors = served.process.stderr.read()
    assert "Traceback" not in errors
    assert f"error: cannot write Triton's log to {tmp_path / 'missing' / 'second.log'}: " in errors
