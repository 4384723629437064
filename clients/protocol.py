"""What the sync and async clients share: settings, request tensors, response parsing, retries.

Only numpy and the standard library at import time; ``tritonclient`` modules are passed in
by the clients, which import them lazily (importing a client costs well under a second).
"""

import asyncio
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from ticket_classifier.clients.prediction import Prediction
from ticket_classifier.errors import ServerUnavailableError, TicketClassifierError
from ticket_classifier.runtime.contract import (
    CATEGORY,
    ENSEMBLE,
    MAX_FIELD_BYTES_PARAMETER,
    MAX_REQUEST_BYTES_PARAMETER,
    MODEL_VERSION,
    NOVELTY,
    RANKED_LABELS,
    RANKED_SCORES,
    REQUIRES_REVIEW,
    REVIEW_REASONS,
    TEXT_INPUTS,
)
from ticket_classifier.runtime.review import REASON_SEPARATOR, ReviewPolicy
from ticket_classifier.runtime.text import RejectedTicket, check_sizes, join_ticket_text

PROTOCOLS = ("grpc", "http")
REQUESTED_OUTPUTS = (CATEGORY, RANKED_LABELS, RANKED_SCORES, REQUIRES_REVIEW, REVIEW_REASONS, MODEL_VERSION, NOVELTY)
UNAVAILABLE_GRPC_CODES = ("StatusCode.UNAVAILABLE",)
UNAVAILABLE_HTTP_STATUS = ("503",)
TIMEOUT_GRPC_CODES = ("StatusCode.DEADLINE_EXCEEDED",)
TIMEOUT_HTTP_STATUS = ("502", "504")
FIELD_NAMES = ("subject", "description")

Ticket = tuple[str, str] | Mapping[str, str]


@dataclass
class RetryPolicy:
    """Bounded retries with exponential backoff and jitter, for unavailable or unreachable servers only.

    A request that timed out is tried again only when it is small (at most
    ``timeout_retry_max_bytes`` of text): the server may still be working on it, and re-sending
    a large one would only add to that work. A request the server refused is never retried.
    """

    max_attempts: int = 3
    initial_backoff_s: float = 0.2
    max_backoff_s: float = 2.0
    timeout_retry_max_bytes: int = 16 * 1024

    def __post_init__(self) -> None:
        if self.max_attempts < 1 or self.initial_backoff_s < 0 or self.max_backoff_s < self.initial_backoff_s:
            raise ValueError("client.retry needs max_attempts >= 1 and 0 <= initial_backoff_s <= max_backoff_s")
        if self.timeout_retry_max_bytes < 0:
            raise ValueError("client.retry.timeout_retry_max_bytes must not be negative")

    def should_retry(self, exc: BaseException, payload_bytes: int) -> bool:
        """True when ``exc`` says the server was unavailable or unreachable, or a small request timed out."""
        kind = failure_kind(exc)
        return kind == "unavailable" or (kind == "timeout" and payload_bytes <= self.timeout_retry_max_bytes)

    def delays(self) -> list[float]:
        """The waits before attempts 2, 3, ...: exponential, capped, with up to 20 % jitter."""
        return [
            min(self.max_backoff_s, self.initial_backoff_s * 2**attempt) * (1 + 0.2 * random.random())
            for attempt in range(self.max_attempts - 1)
        ]


@dataclass
class TlsOptions:
    """TLS for gRPC (and HTTPS): CA bundle, and a client certificate and key for mutual TLS."""

    enabled: bool = False
    root_certificates: str | None = None
    private_key: str | None = None
    certificate_chain: str | None = None


def grpc_tls_options(tls: TlsOptions) -> dict:
    """Keyword arguments of the ``tritonclient`` gRPC clients (sync and aio) for ``tls``."""
    if not tls.enabled:
        return {}
    return {
        "ssl": True,
        "root_certificates": tls.root_certificates,
        "private_key": tls.private_key,
        "certificate_chain": tls.certificate_chain,
    }


@dataclass(frozen=True)
class ServingLimits:
    """What one request may carry, read from the served ensemble's configuration."""

    max_batch_size: int
    max_field_bytes: int
    max_request_bytes: int

    @classmethod
    def from_model_config(cls, config: dict) -> "ServingLimits":
        """The limits of a model configuration (as JSON); no byte limits on a repository built without them."""
        parameters = {key: value.get("string_value", "") for key, value in (config.get("parameters") or {}).items()}
        unlimited = 2**62
        return cls(
            max_batch_size=int(config.get("max_batch_size", 0)) or 1,
            max_field_bytes=int(parameters.get(MAX_FIELD_BYTES_PARAMETER) or unlimited),
            max_request_bytes=int(parameters.get(MAX_REQUEST_BYTES_PARAMETER) or unlimited),
        )


@dataclass
class ClientSettings:
    """The ``client`` section of ``configs/production.yaml``."""

    grpc_url: str = "localhost:8001"
    http_url: str = "localhost:8000"
    timeout_s: float = 10.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    tls: TlsOptions = field(default_factory=TlsOptions)

    def __post_init__(self) -> None:
        if self.timeout_s <= 0:
            raise ValueError("client.timeout_s must be positive")

    def url(self, protocol: str) -> str:
        """The configured address for ``protocol``."""
        return self.grpc_url if protocol == "grpc" else self.http_url


class ClientCore:
    """What the sync and async clients have in common: settings, the review decision, error messages.

    The served model decides whether a ticket needs review, with the policy stored with its
    version; predictions carry that decision (``review_policy == "server"``). A
    ``review_policy`` given here is an explicit override: the client decides again with it, and
    the predictions say so (``review_policy == "client"``).
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        protocol: str = "grpc",
        model_name: str = ENSEMBLE,
        review_policy: ReviewPolicy | None = None,
        timeout_s: float = 10.0,
        retry: RetryPolicy | None = None,
        tls: TlsOptions | None = None,
        top_k: int = 3,
    ) -> None:
        if protocol not in PROTOCOLS:
            raise TicketClassifierError(f"protocol must be grpc or http, got {protocol!r}")
        self.protocol = protocol
        self.url = url or ClientSettings().url(protocol)
        self.model_name = model_name
        self.review_policy = review_policy
        self.timeout_s = timeout_s
        self.retry = retry or RetryPolicy()
        self.tls = tls or TlsOptions()
        self.top_k = top_k
        self._limits: ServingLimits | None = None
        self._policy_checked = False

    @classmethod
    def from_settings(cls, settings: ClientSettings, protocol: str = "grpc", url: str | None = None, **options):
        """A client configured by the ``client`` section of the production config (``url`` overrides its address)."""
        return cls(
            url or settings.url(protocol),
            protocol=protocol,
            timeout_s=settings.timeout_s,
            retry=settings.retry,
            tls=settings.tls,
            **options,
        )

    def _predictions(self, results) -> list[Prediction]:
        """Typed predictions of one or more inference results; an override policy is checked against the labels once."""
        predictions = [
            prediction for result in results for prediction in parse_predictions(result, self.review_policy, self.top_k)
        ]
        if predictions and self.review_policy is not None and not self._policy_checked:
            try:
                self.review_policy.check_labels(list(predictions[0].scores))
            except ValueError as exc:
                raise TicketClassifierError(str(exc)) from None
            self._policy_checked = True
        return predictions

    def _describe_failure(self, exc: BaseException, attempts: int, live: bool, ready: bool) -> TicketClassifierError:
        """A clear error: unreachable server, model not ready, or the server's own message.

        Unreachable, not ready, unavailable and timed out are :class:`ServerUnavailableError`
        (the server's state, not the request's fault); anything else is the request's.
        """
        tried = f" after {attempts} attempts" if attempts > 1 else ""
        message = error_message(exc)
        if not live:
            return ServerUnavailableError(f"cannot reach Triton at {self.url} ({self.protocol}){tried}: {message}")
        if not ready:
            return ServerUnavailableError(
                f"model '{self.model_name}' is not ready on {self.url} ({self.protocol}): {message}"
            )
        kind = ServerUnavailableError if failure_kind(exc) != "other" else TicketClassifierError
        return kind(f"{self.protocol} request to {self.url} failed{tried}: {message}")


def ticket_columns(tickets: Iterable[Ticket]) -> tuple[list[str], list[str]]:
    """Subjects and descriptions of ``tickets`` (pairs or mappings with those keys), checked.

    A ticket without text (empty, or only control, zero-width or NUL characters) is refused
    here, as the server would refuse it.
    """
    subjects, descriptions = [], []
    for index, ticket in enumerate(tickets):
        if isinstance(ticket, Mapping):
            subject, description = ticket.get("subject", ""), ticket.get("description", "")
        elif isinstance(ticket, (tuple, list)) and len(ticket) == 2:
            subject, description = ticket
        else:
            raise TicketClassifierError(f"ticket {index} must be a (subject, description) pair or a mapping")
        if not isinstance(subject, str) or not isinstance(description, str):
            raise TicketClassifierError(f"ticket {index}: subject and description must be strings")
        if not join_ticket_text((subject, description)):
            raise TicketClassifierError(f"ticket {index}: subject and description have no text")
        subjects.append(subject)
        descriptions.append(description)
    return subjects, descriptions


@dataclass(frozen=True)
class RequestPlan:
    """The texts of one inference request, UTF-8 encoded, and their size."""

    subjects: list[bytes]
    descriptions: list[bytes]

    @property
    def payload_bytes(self) -> int:
        """Bytes of text the request carries."""
        return sum(map(len, self.subjects)) + sum(map(len, self.descriptions))


def plan_requests(subjects: Sequence[str], descriptions: Sequence[str], limits: ServingLimits) -> list[RequestPlan]:
    """Check every ticket against the server's byte limits and group them into requests that respect them.

    An oversized field is a :class:`TicketClassifierError` naming the ticket: nothing is sent.
    """
    encoded = [
        (subject.encode("utf-8"), description.encode("utf-8")) for subject, description in zip(subjects, descriptions)
    ]
    plans, current, size = [], [], 0
    for index, ticket in enumerate(encoded):
        try:
            check_sizes([ticket], FIELD_NAMES, limits.max_field_bytes, limits.max_request_bytes)
        except RejectedTicket as exc:
            reason = str(exc).removeprefix("ticket 0: ")
            raise TicketClassifierError(f"ticket {index}: {reason} (server limit)") from None
        ticket_bytes = len(ticket[0]) + len(ticket[1])
        if current and (len(current) == limits.max_batch_size or size + ticket_bytes > limits.max_request_bytes):
            plans.append(current)
            current, size = [], 0
        current.append(ticket)
        size += ticket_bytes
    if current:
        plans.append(current)
    return [RequestPlan([s for s, _ in plan], [d for _, d in plan]) for plan in plans]


def text_inputs(triton, plan: RequestPlan) -> list:
    """The two [batch, 1] BYTES inputs of the ensemble, for the ``tritonclient`` module ``triton``."""
    tensors = []
    for name, values in zip(TEXT_INPUTS, (plan.subjects, plan.descriptions)):
        tensor = triton.InferInput(name, [len(values), 1], "BYTES")
        tensor.set_data_from_numpy(np.array([[value] for value in values], dtype=object))
        tensors.append(tensor)
    return tensors


def server_timeout_us(timeout_s: float) -> int:
    """The per-request server timeout, in microseconds, matching the client's own: a request still
    queued when the client gives up is dropped by the server instead of being run for nobody."""
    return int(timeout_s * 1_000_000)


def requested_outputs(triton) -> list:
    """The outputs the client reads."""
    return [triton.InferRequestedOutput(name) for name in REQUESTED_OUTPUTS]


def parse_predictions(result, override: ReviewPolicy | None, top_k: int) -> list[Prediction]:
    """Typed predictions from an inference result: the server's review decision, or ``override``'s."""
    categories = _strings(result.as_numpy(CATEGORY))
    labels = _strings(result.as_numpy(RANKED_LABELS))
    scores = result.as_numpy(RANKED_SCORES).astype(float)
    versions = _strings(result.as_numpy(MODEL_VERSION))
    flags = result.as_numpy(REQUIRES_REVIEW).reshape(-1).tolist()
    reasons = [row[0] for row in _strings(result.as_numpy(REVIEW_REASONS))]
    novelty = result.as_numpy(NOVELTY).astype(float).reshape(-1).tolist()
    predictions = []
    for category, row_labels, row_scores, version, flag, reason, score in zip(
        categories, labels, scores, versions, flags, reasons, novelty
    ):
        score_map = dict(zip(row_labels, row_scores.tolist()))
        if override is None:
            requires_review, review_reasons = bool(flag), reason.split(REASON_SEPARATOR) if reason else []
        else:
            try:
                requires_review, review_reasons = override.decide(score_map, score)
            except ValueError as exc:
                raise TicketClassifierError(f"cannot apply the review policy: {exc}") from None
        predictions.append(
            Prediction(
                category=category[0],
                confidence=score_map[category[0]],
                top_k=list(zip(row_labels[:top_k], row_scores[:top_k].tolist())),
                requires_review=requires_review,
                review_reasons=review_reasons,
                model_version=version[0],
                novelty=score,
                review_policy="server" if override is None else "client",
                scores=score_map,
            )
        )
    return predictions


def failure_kind(exc: BaseException) -> str:
    """``"unavailable"`` (unreachable, not ready, queue full), ``"timeout"``, or ``"other"`` (never retried)."""
    if isinstance(exc, (TimeoutError, asyncio.TimeoutError)):  # distinct classes before Python 3.11
        return "timeout"
    if isinstance(exc, ConnectionError):
        return "unavailable"
    status = str(getattr(exc, "status", lambda: None)() or "")
    if status in TIMEOUT_GRPC_CODES or status in TIMEOUT_HTTP_STATUS:
        return "timeout"
    if status in UNAVAILABLE_GRPC_CODES or status in UNAVAILABLE_HTTP_STATUS:
        return "unavailable"
    message = str(exc).lower()
    if status == "" and any(
        phrase in message for phrase in ("connection refused", "failed to connect", "unavailable", "connection reset")
    ):
        return "unavailable"
    return "other"


def error_message(exc: BaseException) -> str:
    """The first line of a ``tritonclient`` (or connection) error."""
    text = exc.message() if callable(getattr(exc, "message", None)) else str(exc)
    if not text and isinstance(exc, (TimeoutError, asyncio.TimeoutError)):
        text = "timed out"
    return (text or type(exc).__name__).strip().splitlines()[0]


def _strings(array: np.ndarray) -> list[list[str]]:
    """Rows of a BYTES array as Python strings."""
    return [[value.decode("utf-8") if isinstance(value, bytes) else str(value) for value in row] for row in array]
