"""Triton's HTTP health and model-repository API, with the standard library only.

Used by the server launcher (readiness, which model failed and why) and by rollouts
(loading a new version in explicit model-control mode).
"""

import json
import time
import urllib.error
import urllib.request

from ticket_classifier.errors import TicketClassifierError


class TritonAdmin:
    """Health checks and model control of one server, by its HTTP address ``host:port``."""

    def __init__(self, http_url: str, timeout_s: float = 5.0) -> None:
        self.http_url = http_url
        self.timeout_s = timeout_s

    def _request(self, method: str, path: str, body: bytes | None = None, timeout_s: float | None = None):
        """``(status, body)`` of one request; status None when the server does not answer."""
        request = urllib.request.Request(f"http://{self.http_url}{path}", data=body, method=method)
        try:
            with urllib.request.urlopen(request, timeout=timeout_s or self.timeout_s) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()
        except (urllib.error.URLError, OSError):
            return None, b""

    def is_live(self) -> bool:
        """True when the server answers its liveness endpoint."""
        return self._request("GET", "/v2/health/live")[0] == 200

    def is_ready(self) -> bool:
        """True when the server and (strict readiness) all its models are ready."""
        return self._request("GET", "/v2/health/ready")[0] == 200

    def is_model_ready(self, name: str, version: int | None = None) -> bool:
        """True when ``name`` (or that version of it) is ready."""
        path = f"/v2/models/{name}" + (f"/versions/{version}" if version is not None else "") + "/ready"
        return self._request("GET", path)[0] == 200

    def model_states(self) -> list[dict]:
        """The repository index: name, version, state and reason of each model."""
        status, body = self._request("POST", "/v2/repository/index", b"{}")
        if status != 200:
            return []
        try:
            return json.loads(body)
        except ValueError:
            return []

    def failed_models(self) -> dict[str, str]:
        """Models that ended up unavailable, with Triton's reason."""
        return {
            entry["name"]: entry.get("reason", "unknown reason")
            for entry in self.model_states()
            if entry.get("state") == "UNAVAILABLE" and entry.get("reason") not in (None, "", "unloaded")
        }

    def load_model(self, name: str, timeout_s: float = 300.0) -> None:
        """Load (or reload) ``name`` in explicit model-control mode; fail with Triton's message."""
        status, body = self._request("POST", f"/v2/repository/models/{name}/load", b"{}", timeout_s=timeout_s)
        if status != 200:
            raise TicketClassifierError(f"loading model '{name}' failed: {_error_text(status, body)}")

    def wait_for_model(self, name: str, version: int | None = None, timeout_s: float = 120.0) -> None:
        """Block until ``name`` (version) is ready."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.is_model_ready(name, version):
                return
            time.sleep(0.2)
        raise TicketClassifierError(f"model '{name}' version {version} was not ready after {timeout_s:.0f} s")


def _error_text(status: int | None, body: bytes) -> str:
    """Triton's error message from a response body."""
    if status is None:
        return "the server does not answer"
    try:
        return json.loads(body).get("error", body.decode(errors="replace"))
    except ValueError:
        return body.decode(errors="replace") or f"HTTP {status}"
