"""Triton's health and model-repository API, through Triton's own HTTP client (``tritonclient.http``).

Used by the server launcher and supervisor (readiness, which model failed and why, reloading a
model whose stub died) and by rollouts (loading a new version in explicit model-control mode).
The address may be ``host:port`` (plain HTTP) or a ``http://`` / ``https://`` URL (Triton
behind a TLS-terminating proxy); model control sends the admin key when one is set.
"""

import ssl
import time
import urllib.parse

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


NO_ANSWER = "the server does not answer"


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
        self._headers = {ADMIN_KEY_HEADER: admin_key} if admin_key else None

    def _client(self, timeout_s: float | None = None):
        """A ``tritonclient.http`` client for one call (the client is not shared between threads)."""
        import tritonclient.http as triton

        parsed = urllib.parse.urlsplit(self.url)
        secure = parsed.scheme == "https"
        context = self.ssl_context or (ssl.create_default_context() if secure else None)
        timeout = timeout_s or self.timeout_s
        return triton.InferenceServerClient(
            parsed.netloc + parsed.path,
            ssl=secure,
            ssl_context_factory=(lambda: context) if secure else None,
            connection_timeout=min(timeout, 10.0),
            network_timeout=timeout,
        )

    def _call(self, method: str, *args, timeout_s: float | None = None, **kwargs):
        """``(answer, None)`` of one API call, or ``(None, error)``: Triton's error, or :data:`NO_ANSWER`."""
        from tritonclient.utils import InferenceServerException

        try:
            client = self._client(timeout_s)
        except Exception as exc:  # noqa: BLE001 - a bad address or TLS setting is one error to report
            return None, str(exc) or NO_ANSWER
        try:
            return getattr(client, method)(*args, headers=self._headers, **kwargs), None
        except InferenceServerException as exc:
            return None, f"{exc.message()} (HTTP {exc.status()})" if exc.status() else (exc.message() or NO_ANSWER)
        except Exception:  # noqa: BLE001 - refused, reset or timed out: the server does not answer
            return None, NO_ANSWER
        finally:
            client.close()

    def is_live(self) -> bool:
        """True when the server answers its liveness endpoint."""
        return bool(self._call("is_server_live")[0])

    def is_ready(self) -> bool:
        """True when the server and (strict readiness) all its models are ready."""
        return bool(self._call("is_server_ready")[0])

    def is_model_ready(self, name: str, version: int | None = None) -> bool:
        """True when ``name`` (or that version of it) is ready."""
        return bool(self._call("is_model_ready", name, "" if version is None else str(version))[0])

    def model_states(self) -> list[dict]:
        """The repository index: name, version, state and reason of each model."""
        index, error = self._call("get_model_repository_index")
        if error and "403" in error:
            raise TicketClassifierError(f"Triton at {self.url} refused the repository index: {error}")
        return index or []

    def failed_models(self) -> dict[str, str]:
        """Models that ended up unavailable, with Triton's reason."""
        return {
            entry["name"]: entry.get("reason", "unknown reason")
            for entry in self.model_states()
            if entry.get("state") == "UNAVAILABLE" and entry.get("reason") not in (None, "", "unloaded")
        }

    def load_model(self, name: str, timeout_s: float = 300.0) -> None:
        """Load (or reload a changed) ``name`` in explicit model-control mode; fail with Triton's message."""
        self._control("load_model", "load", name, timeout_s)

    def unload_model(self, name: str, timeout_s: float = 60.0) -> None:
        """Unload ``name`` (Triton finishes the requests in flight first)."""
        self._control("unload_model", "unload", name, timeout_s)

    def _control(self, method: str, action: str, name: str, timeout_s: float) -> None:
        """A load or unload request that must succeed."""
        _, error = self._call(method, name, timeout_s=timeout_s)
        if error is not None:
            raise TicketClassifierError(f"{action}ing model '{name}' failed: {error}")

    def wait_for_model(self, name: str, version: int | None = None, timeout_s: float = 120.0) -> None:
        """Block until ``name`` (version) is ready; fail with a clear message when it is not in time."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.is_model_ready(name, version):
                return
            time.sleep(0.2)
        which = f"version {version} of model '{name}'" if version is not None else f"model '{name}'"
        raise TicketClassifierError(f"{which} was not ready after {timeout_s:.0f} s")
