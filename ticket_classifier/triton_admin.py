"""Triton's HTTP health and model-repository API, with the standard library only.

Used by the server launcher and supervisor (readiness, which model failed and why, reloading a
model whose stub died) and by rollouts (loading a new version in explicit model-control mode).
The address may be ``host:port`` (plain HTTP) or a ``http://`` / ``https://`` URL (Triton
behind a TLS-terminating proxy); model control sends the admin key when one is set.
"""

import json
import ssl
import time
import urllib.error
import urllib.request

from ticket_classifier.admin_key import ADMIN_KEY_HEADER
from ticket_classifier.errors import TicketClassifierError


def base_url(address: str) -> str:
    """``http://host:port`` for ``host:port``; a URL with a scheme is kept (without a trailing slash)."""
    if address.startswith(("http://", "https://")):
        return address.rstrip("/")
    if "://" in address:
        raise TicketClassifierError(f"Triton address {address!r} must be host:port, http://... or https://...")
    return f"http://{address}"


def tls_context(ca_file: str | None) -> ssl.SSLContext | None:
    """An SSL context that trusts ``ca_file`` (None: the system's default trust store)."""
    if not ca_file:
        return None
    try:
        return ssl.create_default_context(cafile=ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise TicketClassifierError(f"cannot read the CA file {ca_file}: {exc}") from None


class TritonAdmin:
    """Health checks and model control of one server, by its HTTP address."""

    def __init__(
        self,
        address: str,
        *,
        admin_key: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
        timeout_s: float = 5.0,
    ) -> None:
        self.url = base_url(address)
        self.admin_key = admin_key
        self.ssl_context = ssl_context
        self.timeout_s = timeout_s

    def _request(self, method: str, path: str, body: bytes | None = None, timeout_s: float | None = None):
        """``(status, body)`` of one request; status None when the server does not answer."""
        headers = {ADMIN_KEY_HEADER: self.admin_key} if self.admin_key else {}
        request = urllib.request.Request(f"{self.url}{path}", data=body, method=method, headers=headers)
        try:
            with urllib.request.urlopen(
                request, timeout=timeout_s or self.timeout_s, context=self.ssl_context
            ) as response:
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
        if status == 403:
            raise TicketClassifierError(
                f"Triton at {self.url} refused the repository index: {_error_text(status, body)}"
            )
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
        """Load (or reload a changed) ``name`` in explicit model-control mode; fail with Triton's message."""
        self._control("load", name, timeout_s)

    def unload_model(self, name: str, timeout_s: float = 60.0) -> None:
        """Unload ``name`` (Triton finishes the requests in flight first)."""
        self._control("unload", name, timeout_s)

    def _control(self, action: str, name: str, timeout_s: float) -> None:
        """POST a load or unload request."""
        status, body = self._request("POST", f"/v2/repository/models/{name}/{action}", b"{}", timeout_s=timeout_s)
        if status != 200:
            raise TicketClassifierError(f"{action}ing model '{name}' failed: {_error_text(status, body)}")

    def wait_for_model(self, name: str, version: int | None = None, timeout_s: float = 120.0) -> None:
        """Block until ``name`` (version) is ready; fail with a clear message when it is not in time."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.is_model_ready(name, version):
                return
            time.sleep(0.2)
        which = f"version {version} of model '{name}'" if version is not None else f"model '{name}'"
        raise TicketClassifierError(f"{which} was not ready after {timeout_s:.0f} s")


def _error_text(status: int | None, body: bytes) -> str:
    """Triton's error message from a response body."""
    if status is None:
        return "the server does not answer"
    try:
        return json.loads(body).get("error", body.decode(errors="replace"))
    except ValueError:
        return body.decode(errors="replace") or f"HTTP {status}"
