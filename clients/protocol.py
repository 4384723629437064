"""What the sync and async clients share: settings, request tensors, response parsing, retries.

Only numpy and the standard library at import time; ``tritonclient`` modules are passed in
by the clients, which import them lazily (importing a client costs well under a second).
"""

import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from ticket_classifier.clients.prediction import Prediction
from ticket_classifier.clients.review import ReviewPolicy
from ticket_classifier.errors import TicketClassifierError

MODEL_NAME = "ticket_classifier"
PROTOCOLS = ("grpc", "http")
REQUESTED_OUTPUTS = ("CATEGORY", "RANKED_LABELS", "RANKED_SCORES", "MODEL_VERSION")
RETRYABLE_GRPC_CODES = ("StatusCode.UNAVAILABLE", "StatusCode.DEADLINE_EXCEEDED", "StatusCode.RESOURCE_EXHAUSTED")
RETRYABLE_HTTP_STATUS = ("502", "503", "504")

Ticket = tuple[str, str] | Mapping[str, str]


@dataclass
class RetryPolicy:
    """Bounded retries with exponential backoff and jitter, for unavailable or unreachable servers only."""

    max_attempts: int = 3
    initial_backoff_s: float = 0.2
    max_backoff_s: float = 2.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1 or self.initial_backoff_s < 0 or self.max_backoff_s < self.initial_backoff_s:
            raise ValueError("client.retry needs max_attempts >= 1 and 0 <= initial_backoff_s <= max_backoff_s")

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
    """What the sync and async clients have in common: settings, the review check, error messages."""

    def __init__(
        self,
        url: str | None = None,
        *,
        protocol: str = "grpc",
        model_name: str = MODEL_NAME,
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
        self.review_policy = review_policy or ReviewPolicy()
        self.timeout_s = timeout_s
        self.retry = retry or RetryPolicy()
        self.tls = tls or TlsOptions()
        self.top_k = top_k
        self._max_batch_size: int | None = None
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
        """Typed predictions of one or more inference results; the review policy is checked against the labels once."""
        predictions = [
            prediction for result in results for prediction in parse_predictions(result, self.review_policy, self.top_k)
        ]
        if predictions and not self._policy_checked:
            try:
                self.review_policy.check_labels(list(predictions[0].scores))
            except ValueError as exc:
                raise TicketClassifierError(str(exc)) from None
            self._policy_checked = True
        return predictions

    def _describe_failure(self, exc: BaseException, attempts: int, live: bool, ready: bool) -> TicketClassifierError:
        """A clear error: unreachable server, model not ready, or the server's own message."""
        tried = f" after {attempts} attempts" if attempts > 1 else ""
        message = error_message(exc)
        if not live:
            return TicketClassifierError(f"cannot reach Triton at {self.url} ({self.protocol}){tried}: {message}")
        if not ready:
            return TicketClassifierError(
                f"model '{self.model_name}' is not ready on {self.url} ({self.protocol}): {message}"
            )
        return TicketClassifierError(f"{self.protocol} request to {self.url} failed{tried}: {message}")


def ticket_columns(tickets: Iterable[Ticket]) -> tuple[list[str], list[str]]:
    """Subjects and descriptions of ``tickets`` (pairs or mappings with those keys), checked."""
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
        if not subject.strip() and not description.strip():
            raise TicketClassifierError(f"ticket {index}: subject and description are both empty")
        subjects.append(subject)
        descriptions.append(description)
    return subjects, descriptions


def text_inputs(triton, subjects: Sequence[str], descriptions: Sequence[str]) -> list:
    """The two [batch, 1] BYTES inputs of the ensemble, for the ``tritonclient`` module ``triton``."""
    tensors = []
    for name, values in (("SUBJECT", subjects), ("DESCRIPTION", descriptions)):
        tensor = triton.InferInput(name, [len(values), 1], "BYTES")
        tensor.set_data_from_numpy(np.array([[value.encode("utf-8")] for value in values], dtype=object))
        tensors.append(tensor)
    return tensors


def requested_outputs(triton) -> list:
    """The outputs the client reads."""
    return [triton.InferRequestedOutput(name) for name in REQUESTED_OUTPUTS]


def parse_predictions(result, policy: ReviewPolicy, top_k: int) -> list[Prediction]:
    """Typed predictions (with the review decision) from an inference result."""
    categories = _strings(result.as_numpy("CATEGORY"))
    labels = _strings(result.as_numpy("RANKED_LABELS"))
    scores = result.as_numpy("RANKED_SCORES").astype(float)
    versions = _strings(result.as_numpy("MODEL_VERSION"))
    predictions = []
    for category, row_labels, row_scores, version in zip(categories, labels, scores, versions):
        score_map = dict(zip(row_labels, row_scores.tolist()))
        try:
            requires_review, reasons = policy.decide(score_map)
        except ValueError as exc:
            raise TicketClassifierError(f"cannot apply the review policy: {exc}") from None
        predictions.append(
            Prediction(
                category=category[0],
                confidence=score_map[category[0]],
                top_k=list(zip(row_labels[:top_k], row_scores[:top_k].tolist())),
                requires_review=requires_review,
                review_reasons=reasons,
                model_version=version[0],
                scores=score_map,
            )
        )
    return predictions


def is_retryable(exc: BaseException) -> bool:
    """True for an unavailable, overloaded or unreachable server; never for a bad request."""
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return True
    status = str(getattr(exc, "status", lambda: None)() or "")
    if status in RETRYABLE_GRPC_CODES or status in RETRYABLE_HTTP_STATUS:
        return True
    message = str(exc).lower()
    return status == "" and any(
        phrase in message for phrase in ("connection refused", "failed to connect", "unavailable", "connection reset")
    )


def error_message(exc: BaseException) -> str:
    """The first line of a ``tritonclient`` (or connection) error."""
    text = exc.message() if callable(getattr(exc, "message", None)) else str(exc)
    if not text and isinstance(exc, TimeoutError):
        text = "timed out"
    return (text or type(exc).__name__).strip().splitlines()[0]


def split(items: Sequence, size: int) -> list[Sequence]:
    """``items`` in consecutive chunks of at most ``size``."""
    return [items[start : start + size] for start in range(0, len(items), size)] if items else []


def _strings(array: np.ndarray) -> list[list[str]]:
    """Rows of a BYTES array as Python strings."""
    return [[value.decode("utf-8") if isinstance(value, bytes) else str(value) for value in row] for row in array]
