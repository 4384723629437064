"""Start and stop the peer services of :mod:`ticket_classifier.performance.peer_apps` with uvicorn."""

import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from ticket_classifier.errors import TicketClassifierError
from ticket_classifier.performance.peer_apps import ENVIRONMENT
from ticket_classifier.runtime.onnx_threads import available_cores
from ticket_classifier.server import free_port


@dataclass(frozen=True)
class Peer:
    """One peer service: its engine and how it is run."""

    name: str
    engine: str
    one_worker_per_core: bool


# The onnxruntime peer serves the exported model of the precision Triton serves in the same run.
PEERS = {
    "fastapi-pytorch-fp32": Peer("fastapi-pytorch-fp32", "pytorch", one_worker_per_core=False),
    "fastapi-onnxruntime": Peer("fastapi-onnxruntime", "onnxruntime", one_worker_per_core=True),
}
STARTUP_TIMEOUT_S = 120


class PeerService:
    """A running peer on a free loopback port; a context manager that stops it."""

    def __init__(self, peer: Peer, checkpoint: Path, onnx_path: Path, *, top_k: int = 3) -> None:
        if peer.engine == "onnxruntime" and not onnx_path.is_file():
            raise TicketClassifierError(f"peer {peer.name} needs {onnx_path}: export that precision first")
        self.peer = peer
        self.port = free_port()
        workers = available_cores() if peer.one_worker_per_core else 1
        threads = 1 if peer.one_worker_per_core else available_cores()
        environment = dict(
            os.environ,
            **{
                ENVIRONMENT["engine"]: peer.engine,
                ENVIRONMENT["checkpoint"]: str(checkpoint),
                ENVIRONMENT["onnx"]: str(onnx_path),
                ENVIRONMENT["threads"]: str(threads),
                ENVIRONMENT["top_k"]: str(top_k),
            },
        )
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "ticket_classifier.performance.peer_apps:create_app",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            str(workers),
            "--log-level",
            "warning",
            "--no-access-log",
        ]
        self._log_folder = tempfile.TemporaryDirectory(prefix="peer-")
        self.log_path = Path(self._log_folder.name) / "uvicorn.log"
        with self.log_path.open("wb") as log:  # a file, not a pipe: an unread pipe would block the workers
            self.process = subprocess.Popen(
                command, env=environment, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        self._wait_until_healthy()

    @property
    def url(self) -> str:
        """The classify endpoint."""
        return f"http://127.0.0.1:{self.port}/classify"

    def _wait_until_healthy(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                error = self.log_path.read_text(errors="replace")[-2000:]
                self._log_folder.cleanup()
                raise TicketClassifierError(f"peer {self.peer.name} exited at start: {error}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=2):
                    return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.5)
        self.stop()
        raise TicketClassifierError(f"peer {self.peer.name} was not healthy within {STARTUP_TIMEOUT_S} s")

    def stop(self) -> None:
        """Stop uvicorn and its workers."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self._log_folder.cleanup()

    def __enter__(self) -> "PeerService":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
