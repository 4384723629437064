"""CPU per request on each side of the server/model-process boundary, read from /proc of a real process tree."""

import os
import signal
import subprocess
import sys
import time

import pytest

from ticket_classifier.performance import process_cpu

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="needs Linux /proc")

# A parent that idles while its child burns one core for a second, as tritonserver idles while a
# model process computes.
BUSY_CHILD = "import time\nend = time.time() + 1.0\nwhile time.time() < end: pass\ntime.sleep(60)"
IDLE_PARENT = f"import subprocess, sys, time\nsubprocess.Popen([sys.executable, '-c', {BUSY_CHILD!r}])\ntime.sleep(60)"


@pytest.fixture
def server_like_tree():
    parent = subprocess.Popen([sys.executable, "-c", IDLE_PARENT], start_new_session=True)
    try:
        deadline = time.monotonic() + 10
        while not process_cpu._children(parent.pid) and time.monotonic() < deadline:
            time.sleep(0.01)
        yield parent.pid
    finally:
        os.killpg(parent.pid, signal.SIGKILL)
        parent.wait()


def test_the_childs_cpu_counts_as_the_models_and_the_parents_as_the_front_end(server_like_tree):
    before = process_cpu.snapshot(server_like_tree)
    time.sleep(1.5)
    after = process_cpu.snapshot(server_like_tree)
    cost = process_cpu.per_request(before, after, requests=10)
    assert cost["models"] >= 50  # at least half of the child's second, over 10 requests
    assert cost["front_end"] < 20


def test_resident_memory_counts_the_parent_and_the_child(server_like_tree):
    alone = process_cpu.resident_mb(os.getpid())
    tree = process_cpu.resident_mb(server_like_tree)
    assert alone > 5 and tree > 10  # two Python interpreters hold more than 10 MB together


def test_nothing_is_reported_without_both_snapshots_or_requests(server_like_tree):
    snapshot = process_cpu.snapshot(server_like_tree)
    assert process_cpu.per_request(snapshot, snapshot, requests=0) is None
    assert process_cpu.per_request(None, snapshot, requests=5) is None
    assert process_cpu.per_request(snapshot, snapshot, requests=5) == {"front_end": 0.0, "models": 0.0}


def test_a_process_that_is_gone_gives_no_snapshot():
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    assert process_cpu.snapshot(process.pid) is None and process_cpu.resident_mb(process.pid) is None
