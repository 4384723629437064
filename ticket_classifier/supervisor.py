"""``ticket-classifier serve``: run tritonserver under watch, so that health tells the truth and outages heal.

Every ``probe_interval_s`` the supervisor sends one real ticket through the ensemble
(:mod:`ticket_classifier.health`) and acts on the answer:

* a step model whose Python stub died (Triton 2.51 never restarts it, and keeps answering
  ready) is unloaded and loaded again, which brings it back in about two seconds (where model
  control is not explicit, or the reload fails, the server is restarted instead);
* a server that stopped answering ``probe_failures_before_restart`` probes in a row, or whose
  process exited, is restarted on the same ports, with exponential backoff between tries
  (capped at ``restart_backoff_max_s``, reset once it is healthy again);
* a model that failed to load is reported and left alone (only a fixed repository helps).

Its own small HTTP endpoint, on ``health_port``, answers ``/ready`` with 200 only while the last
probe passed (503 otherwise, with the reason) and ``/live`` with 200 while the supervisor runs:
the readiness and liveness probes to give a load balancer or Kubernetes.
"""

import json
import logging
import signal
import sys
import threading
import time
from dataclasses import dataclass

from ticket_classifier.errors import TicketClassifierError
from ticket_classifier.health import ProbeResult, probe
from ticket_classifier.http_endpoint import Endpoint
from ticket_classifier.runtime.contract import ENSEMBLE
from ticket_classifier.server import TritonServer, describe_failures
from ticket_classifier.triton_admin import base_url

log = logging.getLogger(__name__)


@dataclass
class HealthState:
    """What the last probe found, as the health endpoint reports it."""

    ready: bool = False
    detail: str = "starting"
    checked_at: float = 0.0
    restarts: int = 0
    reloads: int = 0

    def as_json(self) -> bytes:
        """The endpoint's JSON body."""
        body = {
            "status": "ready" if self.ready else "not ready",
            "detail": self.detail,
            "checked_at": self.checked_at,
            "restarts": self.restarts,
            "reloads": self.reloads,
        }
        return json.dumps(body).encode("utf-8")


def health_endpoint(state: HealthState, host: str, port: int) -> Endpoint:
    """``GET /ready`` (200 while the last probe passed, else 503) and ``GET /live`` (200)."""
    routes = {
        "/ready": lambda: (200 if state.ready else 503, "application/json", state.as_json()),
        "/live": lambda: (200, "application/json", b'{"status": "live"}'),
    }
    return Endpoint(host, port, routes, "health endpoint")


class Supervisor:
    """Keeps one :class:`TritonServer` serving; see the module documentation."""

    def __init__(self, server: TritonServer) -> None:
        self.server = server
        self.config = server.config
        self.state = HealthState()
        self._failures: list[ProbeResult] = []
        self._backoff_s = 1.0

    def run(self, stop: threading.Event) -> None:
        """Start the server and watch it until ``stop`` is set; then stop it cleanly."""
        self.server.start(wait=False)
        try:
            self._settle(announce=True)
            with health_endpoint(self.state, self.config.bind_address, self.config.health_port) as endpoint:
                print(f"health: http://{self.server.http_url.rsplit(':', 1)[0]}:{endpoint.port}/ready", flush=True)
                while not stop.is_set():
                    if self.server.process is None or self.server.process.poll() is not None:
                        self._restart(stop, f"tritonserver exited with code {self._exit_code()}")
                    else:
                        self._check(stop)
                    stop.wait(self.config.probe_interval_s)
            print("stopping tritonserver ...", flush=True)
        finally:
            self.server.stop()

    def _settle(self, *, announce: bool) -> None:
        """Wait for every model to be ready or failed; say which (and probe once)."""
        failed = self.server.wait_until_settled()
        if announce:
            state = "ready" if not failed else "DEGRADED (live, not ready)"
            print(
                f"tritonserver {state}: {self.server.listening()}\n"
                f"models from {self.server.model_repository}; Triton's log: {self.server.log_path}; Ctrl-C stops it",
                flush=True,
            )
        if failed:
            print(f"error: {describe_failures(failed)}", file=sys.stderr, flush=True)
        self._record(probe(base_url(self.server.http_url), self.config.probe_timeout_s))

    def _check(self, stop: threading.Event) -> None:
        """Probe once; reload a model whose stub died, restart a server that stopped answering."""
        result = probe(base_url(self.server.http_url), self.config.probe_timeout_s)
        self._record(result)
        if result.ok:
            return
        if result.dead_stub_model:
            if not self._reload(result.dead_stub_model):
                self._restart(stop, f"model {result.dead_stub_model} could not be reloaded")
        elif self._unanswered() >= self.config.probe_failures_before_restart:
            self._restart(stop, f"tritonserver did not answer {self._unanswered()} probes in a row")

    def _unanswered(self) -> int:
        """How many of the latest probes in a row got no answer at all."""
        count = 0
        for failure in reversed(self._failures):
            if failure.answered:
                break
            count += 1
        return count

    def _record(self, result: ProbeResult) -> None:
        """Update the health state; log every change between ready and not ready."""
        was_ready = self.state.ready
        self.state.ready, self.state.detail, self.state.checked_at = result.ok, result.detail, time.time()
        if result.ok:
            self._failures.clear()
            self._backoff_s = 1.0
            if not was_ready:
                log.info("ticket_classifier answers (model version %s): ready", result.detail)
        else:
            self._failures.append(result)
            if was_ready or len(self._failures) == 1:
                log.warning("ticket_classifier probe failed: %s: not ready", result.detail)

    def _reload(self, model: str) -> bool:
        """Unload and load ``model`` again (a new stub process), then probe; False when Triton refused
        (for instance outside explicit model-control mode)."""
        log.warning("the Python stub of model %s died: reloading the model", model)
        admin = self.server.admin
        started = time.monotonic()
        try:
            admin.unload_model(model)
            admin.load_model(model, timeout_s=self.config.startup_timeout_s)
            admin.wait_for_model(ENSEMBLE, timeout_s=self.config.startup_timeout_s)
        except TicketClassifierError as exc:
            log.error("reloading %s failed: %s", model, exc)
            return False
        self.state.reloads += 1
        self._record(probe(base_url(self.server.http_url), self.config.probe_timeout_s))
        log.info("model %s reloaded in %.1f s", model, time.monotonic() - started)
        return True

    def _restart(self, stop: threading.Event, reason: str) -> None:
        """Restart the server after a backoff that doubles with each failed try."""
        self.state.ready, self.state.detail = False, reason
        self.state.restarts += 1
        log.warning("%s: restarting it in %.0f s (restart %d)", reason, self._backoff_s, self.state.restarts)
        if stop.wait(self._backoff_s):
            return
        self._backoff_s = min(self._backoff_s * 2, self.config.restart_backoff_max_s)
        self._failures.clear()
        started = time.monotonic()
        self.server.restart()
        try:
            self._settle(announce=False)
        except TicketClassifierError as exc:
            log.error("tritonserver did not come back: %s", str(exc).splitlines()[0])
            return
        log.info("tritonserver restarted in %.1f s", time.monotonic() - started)

    def _exit_code(self) -> str:
        """The exit code of the server process, or '?'."""
        process = self.server.process
        return str(process.returncode) if process is not None and process.returncode is not None else "?"


def serve_forever(model_repository, config) -> None:
    """Run the supervised server in the foreground until Ctrl-C or SIGTERM, then stop it cleanly."""
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        Supervisor(TritonServer(model_repository, config)).run(stop)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
