"""The synchronous client of the ``ticket_classifier`` ensemble, over gRPC (default) or HTTP.

No torch, transformers or onnxruntime: tokenization and the model run in Triton. One client
object keeps one connection (reuse it); batches larger than the server's ``max_batch_size``
are split; unavailable or unreachable servers are retried with backoff, bad requests never.
"""

import time
from collections.abc import Sequence

from ticket_classifier.clients.prediction import Prediction
from ticket_classifier.clients.protocol import (
    ClientCore,
    RequestPlan,
    ServingLimits,
    Ticket,
    TlsOptions,
    error_message,
    grpc_tls_options,
    plan_requests,
    requested_outputs,
    server_timeout_us,
    text_inputs,
    ticket_columns,
)
from ticket_classifier.errors import TicketClassifierError


class TicketClassifierClient(ClientCore):
    """Classify tickets with the Triton-served model (blocking calls); see :class:`ClientCore` for the options."""

    def __init__(self, url: str | None = None, **options) -> None:
        super().__init__(url, **options)
        self._triton, self._client = _connect(self.protocol, self.url, self.timeout_s, self.tls)

    def __enter__(self) -> "TicketClassifierClient":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection."""
        self._client.close()

    def is_live(self) -> bool:
        """True when the server answers."""
        return self._health(self._client.is_server_live)

    def is_ready(self) -> bool:
        """True when the server answers and the model is ready."""
        return self._health(lambda: self._client.is_model_ready(self.model_name))

    @staticmethod
    def _health(check) -> bool:
        """A health check that answers False instead of raising."""
        try:
            return bool(check())
        except Exception:  # tritonclient raises several types for an absent server
            return False

    def limits(self) -> ServingLimits:
        """The served model's batch size and byte limits (asked once, then remembered)."""
        if self._limits is None:
            self._limits = ServingLimits.from_model_config(self._call(self._model_config, 0))
        return self._limits

    def max_batch_size(self) -> int:
        """The model's ``max_batch_size``."""
        return self.limits().max_batch_size

    def _model_config(self) -> dict:
        """The model configuration as a dict."""
        if self.protocol == "grpc":
            return self._client.get_model_config(self.model_name, as_json=True, client_timeout=self.timeout_s)["config"]
        return self._client.get_model_config(self.model_name)

    def classify(self, subject: str, description: str) -> Prediction:
        """Classify one ticket."""
        return self.classify_batch([(subject, description)])[0]

    def classify_batch(self, tickets: Sequence[Ticket]) -> list[Prediction]:
        """Classify tickets; results keep the input order. Large batches go as several requests.

        A ticket over the server's byte limits is refused before anything is sent.
        """
        subjects, descriptions = ticket_columns(tickets)
        if not subjects:
            return []
        plans = plan_requests(subjects, descriptions, self.limits())
        return self._predictions(self._call(lambda plan=plan: self._infer(plan), plan.payload_bytes) for plan in plans)

    def _infer(self, plan: RequestPlan):
        """One inference request; the server drops it if it is still queued when the client gives up."""
        inputs = text_inputs(self._triton, plan)
        outputs = requested_outputs(self._triton)
        timeout = server_timeout_us(self.timeout_s)
        if self.protocol == "grpc":
            return self._client.infer(
                self.model_name, inputs, outputs=outputs, timeout=timeout, client_timeout=self.timeout_s
            )
        return self._client.infer(self.model_name, inputs, outputs=outputs, timeout=timeout)

    def _call(self, action, payload_bytes: int):
        """Run ``action`` with bounded retries; errors become one-line :class:`TicketClassifierError`."""
        delays = self.retry.delays()
        for attempt in range(self.retry.max_attempts):
            try:
                return action()
            except Exception as exc:  # tritonclient and its transports raise many types
                if self.retry.should_retry(exc, payload_bytes) and attempt < len(delays):
                    time.sleep(delays[attempt])
                    continue
                live = self.is_live()
                raise self._describe_failure(exc, attempt + 1, live, live and self.is_ready()) from None
        raise AssertionError("unreachable")


def _connect(protocol: str, url: str, timeout_s: float, tls: TlsOptions):
    """``(tritonclient module, client)`` for ``protocol``."""
    if protocol == "grpc":
        import tritonclient.grpc as triton

        options = grpc_tls_options(tls)
    else:
        import tritonclient.http as triton

        options = {"connection_timeout": timeout_s, "network_timeout": timeout_s}
        if tls.enabled:
            ssl_options = {
                "ca_certs": tls.root_certificates,
                "keyfile": tls.private_key,
                "certfile": tls.certificate_chain,
            }
            options.update(ssl=True, ssl_options={key: value for key, value in ssl_options.items() if value})
    try:
        return triton, triton.InferenceServerClient(url=url, **options)
    except Exception as exc:  # tritonclient raises plain exceptions for malformed URLs or unreadable certificates
        raise TicketClassifierError(f"cannot create a {protocol} client for {url!r}: {error_message(exc)}") from None
