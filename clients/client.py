"""A thin client for the ``ticket_classifier`` ensemble over gRPC or HTTP (``tritonclient``).

No torch, transformers or onnxruntime: tokenization and the model run in Triton. The client
sends subjects and descriptions, reads back the ranked labels and applies the review policy.
"""

from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from ticket_classifier.clients.prediction import Prediction
from ticket_classifier.clients.review import ReviewPolicy
from ticket_classifier.errors import TicketClassifierError

MODEL_NAME = "ticket_classifier"
PROTOCOLS = ("grpc", "http")
DEFAULT_URLS = {"grpc": "localhost:8001", "http": "localhost:8000"}
REQUESTED_OUTPUTS = ("RANKED_LABELS", "RANKED_SCORES", "MODEL_VERSION")

Ticket = tuple[str, str] | Mapping[str, str]


class TicketClassifierClient:
    """Classify tickets with the Triton-served model."""

    def __init__(
        self,
        url: str | None = None,
        *,
        protocol: str = "grpc",
        model_name: str = MODEL_NAME,
        review_policy: ReviewPolicy | None = None,
        timeout_s: float = 10.0,
        top_k: int = 3,
    ) -> None:
        if protocol not in PROTOCOLS:
            raise TicketClassifierError(f"protocol must be grpc or http, got {protocol!r}")
        self.protocol = protocol
        self.url = url or DEFAULT_URLS[protocol]
        self.model_name = model_name
        self.review_policy = review_policy or ReviewPolicy()
        self.timeout_s = timeout_s
        self.top_k = top_k
        if protocol == "grpc":
            import tritonclient.grpc as triton
        else:
            import tritonclient.http as triton
        self._triton = triton
        try:
            self._client = triton.InferenceServerClient(url=self.url)
        except Exception as exc:  # tritonclient raises plain exceptions for malformed URLs
            raise TicketClassifierError(f"invalid server URL {self.url!r}: {exc}") from None

    def __enter__(self) -> "TicketClassifierClient":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection."""
        self._client.close()

    def is_ready(self) -> bool:
        """True when the server answers and the model is ready."""
        from tritonclient.utils import InferenceServerException

        try:
            return bool(self._client.is_server_live()) and bool(self._client.is_model_ready(self.model_name))
        except (InferenceServerException, ConnectionError, OSError):
            return False

    def classify(self, subject: str, description: str) -> Prediction:
        """Classify one ticket."""
        return self.classify_batch([(subject, description)])[0]

    def classify_batch(self, tickets: Sequence[Ticket]) -> list[Prediction]:
        """Classify several tickets in one request; results keep the input order."""
        subjects, descriptions = _columns(tickets)
        if not subjects:
            return []
        inputs = [self._text_input("SUBJECT", subjects), self._text_input("DESCRIPTION", descriptions)]
        outputs = [self._triton.InferRequestedOutput(name) for name in REQUESTED_OUTPUTS]
        result = self._infer(inputs, outputs)
        labels = _strings(result.as_numpy("RANKED_LABELS"))
        scores = result.as_numpy("RANKED_SCORES").astype(float)
        versions = _strings(result.as_numpy("MODEL_VERSION"))
        return [
            self._prediction(row_labels, row_scores, row_version[0])
            for row_labels, row_scores, row_version in zip(labels, scores, versions)
        ]

    def _text_input(self, name: str, values: list[str]):
        """A [batch, 1] BYTES input."""
        tensor = self._triton.InferInput(name, [len(values), 1], "BYTES")
        tensor.set_data_from_numpy(np.array([[value.encode("utf-8")] for value in values], dtype=object))
        return tensor

    def _infer(self, inputs, outputs):
        """One inference call with errors turned into one-line messages."""
        from tritonclient.utils import InferenceServerException

        try:
            if self.protocol == "grpc":
                return self._client.infer(self.model_name, inputs, outputs=outputs, client_timeout=self.timeout_s)
            return self._client.infer(self.model_name, inputs, outputs=outputs, timeout=int(self.timeout_s * 1e6))
        except InferenceServerException as exc:
            if not self.is_ready():
                raise TicketClassifierError(
                    f"model '{self.model_name}' is not ready on {self.url} ({self.protocol}): {_message(exc)}"
                ) from None
            raise TicketClassifierError(f"{self.protocol} request to {self.url} failed: {_message(exc)}") from None
        except (ConnectionError, OSError) as exc:
            raise TicketClassifierError(f"cannot reach Triton at {self.url} ({self.protocol}): {exc}") from None

    def _prediction(self, labels: Sequence[str], scores: np.ndarray, model_version: str) -> Prediction:
        """A typed prediction with the review decision."""
        score_map = {label: float(score) for label, score in zip(labels, scores)}
        requires_review, reasons = self.review_policy.decide(score_map)
        return Prediction(
            category=labels[0],
            confidence=float(scores[0]),
            top_k=[(label, float(score)) for label, score in zip(labels[: self.top_k], scores[: self.top_k])],
            requires_review=requires_review,
            review_reasons=reasons,
            model_version=model_version,
            scores=score_map,
        )


def _columns(tickets: Iterable[Ticket]) -> tuple[list[str], list[str]]:
    """Subjects and descriptions of ``tickets`` (pairs or mappings with those keys)."""
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


def _strings(array: np.ndarray) -> list[list[str]]:
    """Rows of a BYTES array as Python strings."""
    return [[value.decode("utf-8") if isinstance(value, bytes) else str(value) for value in row] for row in array]


def _message(exc: Exception) -> str:
    """The first line of a tritonclient error."""
    text = exc.message() if hasattr(exc, "message") and callable(exc.message) else str(exc)
    return (text or type(exc).__name__).strip().splitlines()[0]
