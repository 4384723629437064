"""Text preprocessing shared by training and serving.

The Triton tokenizer model runs a copy of this very file (the repository builder vendors it
next to the model), so a ticket is turned into model text the same way in both places.
Keep it dependency-free: it runs inside the Triton Python backend.
"""

import re
import unicodedata
from collections.abc import Iterable

_WHITESPACE = re.compile(r"\s+")
_SENTENCE_END = (".", "!", "?", ":", ";")


def normalize_text(value: str | None) -> str:
    """Return ``value`` in Unicode NFKC form with runs of whitespace collapsed to one space."""
    if value is None:
        return ""
    return _WHITESPACE.sub(" ", unicodedata.normalize("NFKC", str(value))).strip()


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
