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

    async def limits(self) -> ServingLimits:
        """The served model's batch size and byte limits (asked once, then remembered)."""
        if self._limits is None:
            self._limits = ServingLimits.from_model_config(await self._call(self._model_config, 0))
        return self._limits

    async def max_batch_size(self) -> int:
        """The model's ``max_batch_size``."""
        return (await self.limits()).max_batch_size

    async def _model_config(self) -> dict:
        """The model configuration as a dict."""
        if self.protocol == "grpc":
            return (await self._client.get_model_config(self.model_name, as_json=True))["config"]
        return await self._client.get_model_config(self.model_name)

    async def classify(self, subject: str, description: str) -> Prediction:
        """Classify one ticket."""
        return (await self.classify_batch([(subject, description)]))[0]

    async def classify_batch(self, tickets: Sequence[Ticket]) -> list[Prediction]:
        """Classify tickets; results keep the input order. Large batches go as several concurrent requests.

        A ticket over the server's byte limits is refused before anything is sent.
        """
        subjects, descriptions = ticket_columns(tickets)
        if not subjects:
            return []
        plans = plan_requests(subjects, descriptions, await self.limits())
        results = await asyncio.gather(
            *(self._call(lambda plan=plan: self._infer(plan), plan.payload_bytes) for plan in plans)
        )
        return self._predictions(results)

    async def _infer(self, plan: RequestPlan):
        """One inference request, bounded by the client timeout; the server drops it if still queued by then."""
        inputs = text_inputs(self._triton, plan)
        outputs = requested_outputs(self._triton)
        timeout = server_timeout_us(self.timeout_s)
        if self.protocol == "grpc":
            return await self._client.infer(
                self.model_name, inputs, outputs=outputs, timeout=timeout, client_timeout=self.timeout_s
            )
        return await asyncio.wait_for(
            self._client.infer(self.model_name, inputs, outputs=outputs, timeout=timeout), self.timeout_s
        )

    async def _call(self, action, payload_bytes: int):
        """Await ``action()`` with bounded retries; errors become one-line :class:`TicketClassifierError`."""
        delays = self.retry.delays()
        for attempt in range(self.retry.max_attempts):
            try:
                return await action()
            except Exception as exc:  # tritonclient and its transports raise many types
                if self.retry.should_retry(exc, payload_bytes) and attempt < len(delays):
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
