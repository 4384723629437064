"""Text preprocessing shared by training and serving.

The Triton tokenizer model runs this very file (the runtime package is copied beside it), so a
ticket is turned into model text the same way in training, in the clients and in the server.
Standard library only: it also runs in the thin clients.
"""

import re
import unicodedata
from collections.abc import Iterable, Sequence

_WHITESPACE = re.compile(r"\s+")
_SENTENCE_END = (".", "!", "?", ":", ";")
# Characters that carry no text: control (NUL, escape ...), format (zero-width space, joiners,
# bidi marks), surrogates, and the replacement character left by broken decoding. BERT-style
# tokenizers drop them too, so removing them here changes no token id.
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs"})
_REPLACEMENT_CHARACTER = "\ufffd"


def _is_invisible(character: str) -> bool:
    """True for a character that is neither text nor whitespace (see ``_INVISIBLE_CATEGORIES``)."""
    if character.isspace():
        return False
    return character == _REPLACEMENT_CHARACTER or unicodedata.category(character) in _INVISIBLE_CATEGORIES


def normalize_text(value: str | None) -> str:
    """Return ``value`` in Unicode NFKC form, invisible characters removed, whitespace runs collapsed to one space.

    A value made only of control, zero-width or NUL characters becomes ``""``, like an empty one.
    """
    if value is None:
        return ""
    text = unicodedata.normalize("NFKC", str(value))
    if not text.isprintable() or _REPLACEMENT_CHARACTER in text:  # printable text has no other invisible character
        text = "".join(character for character in text if not _is_invisible(character))
    return _WHITESPACE.sub(" ", text).strip()


def join_ticket_text(fields: Iterable[str | None]) -> str:
    """Join a ticket's text fields (for example subject and description) into one model input.

    Empty fields are skipped; a field that does not already end a sentence gets a full stop, so
    that ``("VPN down", "Cannot connect")`` becomes ``"VPN down. Cannot connect"``.
    """
    parts = [part for part in (normalize_text(field) for field in fields) if part]
    return " ".join(
        part if index == len(parts) - 1 or part.endswith(_SENTENCE_END) else part + "."
        for index, part in enumerate(parts)
    )


# How much text one request may carry (the limits are the contract's MAX_*_BYTES_PARAMETER
# model parameters): the reasons a ticket is refused, and the checks that the Triton tokenizer
# and the clients both run.
REJECTION_REASONS = ("empty", "too_large", "not_utf8")


class RejectedTicket(ValueError):
    """A ticket or request refused as the sender's mistake; ``reason`` is one of :data:`REJECTION_REASONS`."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def check_sizes(tickets: Sequence[Sequence[bytes]], names: Sequence[str], max_field_bytes: int, max_request_bytes: int):
    """Refuse a request whose fields (UTF-8 bytes, one sequence per ticket) exceed the limits, before any decoding."""
    for row, values in enumerate(tickets):
        for value, name in zip(values, names):
            if len(value) > max_field_bytes:
                raise RejectedTicket(
                    "too_large",
                    f"ticket {row}: {name} is {len(value)} bytes, over the limit of {max_field_bytes} bytes",
                )
    total = sum(len(value) for values in tickets for value in values)
    if total > max_request_bytes:
        raise RejectedTicket("too_large", f"request of {total} bytes is over the limit of {max_request_bytes} bytes")


def ticket_text(values: Sequence[bytes], names: Sequence[str], row: int) -> str:
    """The model text of one ticket from its raw UTF-8 fields; refused when undecodable or without text."""
    decoded = []
    for value, name in zip(values, names):
        try:
            decoded.append(value.decode("utf-8"))
        except UnicodeDecodeError:
            raise RejectedTicket("not_utf8", f"ticket {row}: {name} is not valid UTF-8") from None
    text = join_ticket_text(decoded)
    if not text:
        raise RejectedTicket(
            "empty", f"ticket {row}: {' and '.join(names)} have no text (empty or only invisible characters)"
        )
    return text
