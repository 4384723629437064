"""The asyncio client of the ``ticket_classifier`` ensemble (``tritonclient.grpc.aio`` / ``http.aio``).

Same behaviour as :class:`~ticket_classifier.clients.client.TicketClassifierClient`: typed
predictions with the review decision, batches split to ``max_batch_size`` (sent
concurrently), bounded retries for unavailable or unreachable servers only, clear errors.
"""

import asyncio
import ssl
from collections.abc import Sequence

from ticket_classifier.clients.prediction import Prediction
from ticket_classifier.clients.protocol import (
    ClientCore,
    Ticket,
    TlsOptions,
    error_message,
    grpc_tls_options,
    is_retryable,
    requested_outputs,
    split,
    text_inputs,
    ticket_columns,
)
from ticket_classifier.errors import TicketClassifierError


class AsyncTicketClassifierClient(ClientCore):
    """Classify tickets from asyncio code; use ``async with``. Options as for :class:`ClientCore`."""

    def __init__(self, url: str | None = None, **options) -> None:
        super().__init__(url, **options)
        self._triton, self._client = _connect(self.protocol, self.url, self.timeout_s, self.tls)

    async def __aenter__(self) -> "AsyncTicketClassifierClient":
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the connection."""
        await self._client.close()

    async def is_live(self) -> bool:
        """True when the server answers."""
        return await self._health(self._client.is_server_live)

    async def is_ready(self) -> bool:
        """True when the server answers and the model is ready."""
        return await self._health(lambda: self._client.is_model_ready(self.model_name))

    async def _health(self, check) -> bool:
        """A health check that answers False instead of raising."""
        try:
            return bool(await asyncio.wait_for(check(), self.timeout_s))
        except Exception:  # tritonclient raises several types for an absent server
            return False

    async def max_batch_size(self) -> int:
        """The model's ``max_batch_size`` (asked once, then remembered)."""
        if self._max_batch_size is None:
            config = await self._call(self._model_config)
            self._max_batch_size = int(config.get("max_batch_size", 0)) or 1
        return self._max_batch_size

    async def _model_config(self) -> dict:
        """The model configuration as a dict."""
        if self.protocol == "grpc":
            return (await self._client.get_model_config(self.model_name, as_json=True))["config"]
        return await self._client.get_model_config(self.model_name)

    async def classify(self, subject: str, description: str) -> Prediction:
        """Classify one ticket."""
        return (await self.classify_batch([(subject, description)]))[0]

    async def classify_batch(self, tickets: Sequence[Ticket]) -> list[Prediction]:
        """Classify tickets; results keep the input order. Large batches go as several concurrent requests."""
        subjects, descriptions = ticket_columns(tickets)
        if not subjects:
            return []
        size = await self.max_batch_size()
        results = await asyncio.gather(
            *(
                self._call(lambda s=chunk_subjects, d=chunk_descriptions: self._infer(s, d))
                for chunk_subjects, chunk_descriptions in zip(split(subjects, size), split(descriptions, size))
            )
        )
        return self._predictions(results)

    async def _infer(self, subjects: Sequence[str], descriptions: Sequence[str]):
        """One inference request, bounded by the client timeout."""
        inputs = text_inputs(self._triton, subjects, descriptions)
        outputs = requested_outputs(self._triton)
        if self.protocol == "grpc":
            return await self._client.infer(self.model_name, inputs, outputs=outputs, client_timeout=self.timeout_s)
        return await asyncio.wait_for(self._client.infer(self.model_name, inputs, outputs=outputs), self.timeout_s)

    async def _call(self, action):
        """Await ``action()`` with bounded retries; errors become one-line :class:`TicketClassifierError`."""
        delays = self.retry.delays()
        for attempt in range(self.retry.max_attempts):
            try:
                return await action()
            except Exception as exc:  # tritonclient and its transports raise many types
                if is_retryable(exc) and attempt < len(delays):
                    await asyncio.sleep(delays[attempt])
                    continue
                live = await self.is_live()
                raise self._describe_failure(exc, attempt + 1, live, live and await self.is_ready()) from None
        raise AssertionError("unreachable")


def _connect(protocol: str, url: str, timeout_s: float, tls: TlsOptions):
    """``(tritonclient module, asyncio client)`` for ``protocol``."""
    if protocol == "grpc":
        import tritonclient.grpc as triton
        import tritonclient.grpc.aio as triton_aio

        options = grpc_tls_options(tls)
    else:
        import tritonclient.http as triton
        import tritonclient.http.aio as triton_aio

        options = {"conn_timeout": timeout_s}
        if tls.enabled:
            context = ssl.create_default_context(cafile=tls.root_certificates)
            if tls.certificate_chain:
                context.load_cert_chain(tls.certificate_chain, tls.private_key)
            options.update(ssl=True, ssl_context=context)
    try:
        return triton, triton_aio.InferenceServerClient(url=url, **options)
    except Exception as exc:  # tritonclient raises plain exceptions for malformed URLs or unreadable certificates
        raise TicketClassifierError(f"cannot create a {protocol} client for {url!r}: {error_message(exc)}") from None
