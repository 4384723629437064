"""The tickets of an input CSV, read so that no row is lost, merged or mislabelled silently.

* Every record is checked against the header: a record with another number of fields, or one
  the CSV parser cannot read (an unbalanced quote, say), is reported with its line number and
  reading goes on at the next line, so an unbalanced quote cannot swallow the rows after it.
* Cells of any size are read; the size limits are the server's, applied per row later.
* UTF-8 with or without a byte-order mark; other encodings are an error naming the byte offset.
* Each row carries a fingerprint of its text (``text_sha256``), which the output file records so
  that a resumed run can prove it continues the same input.
"""

import csv
import hashlib
import io
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ticket_classifier.errors import TicketClassifierError


@dataclass
class InputRow:
    """One ticket of the input file: ``row`` is the line number where its record starts, ``fields`` all its
    cells (carried through to the output); with one text column, ``subject`` is empty."""

    ticket_id: str
    row: int
    subject: str
    description: str
    fields: list[str]

    @property
    def text_sha256(self) -> str:
        """A fingerprint of the ticket's text (16 hex digits of SHA-256 over subject and description)."""
        digest = hashlib.sha256(self.subject.encode("utf-8") + b"\x1f" + self.description.encode("utf-8"))
        return digest.hexdigest()[:16]


@dataclass
class MalformedRecord:
    """A record that could not be read as a row of the file; ``row`` is its first line."""

    row: int
    reason: str


@dataclass
class InputFile:
    """What :func:`read_input` found: the header, the rows, the malformed records."""

    header: list[str]
    rows: list[InputRow]
    malformed: list[MalformedRecord]


def read_input(path: Path | None, id_column: str, text_columns: list[str]) -> InputFile:
    """Every readable ticket of ``path`` (None: standard input) and every malformed record.

    ``text_columns`` is one text column or the subject and description columns. Duplicate ids are an error.
    """
    name = "standard input" if path is None else str(path)
    try:
        raw = sys.stdin.buffer.read() if path is None else path.read_bytes()
        text = raw.decode("utf-8-sig")
    except FileNotFoundError:
        raise TicketClassifierError(f"input file not found: {path}") from None
    except UnicodeDecodeError as exc:
        raise TicketClassifierError(
            f"{name} is not valid UTF-8 (byte offset {exc.start}): save it as UTF-8 (with or without BOM)"
        ) from None
    records = _records(text)
    try:
        _, header = next(records)
    except StopIteration:
        raise TicketClassifierError(f"{name} is empty: it needs a header row") from None
    if isinstance(header, MalformedRecord):
        raise TicketClassifierError(f"{name}: the header row cannot be read ({header.reason})")
    missing = [column for column in text_columns if column not in header]
    if missing:
        raise TicketClassifierError(
            f"{name} lacks column(s) {', '.join(missing)} (columns found: {', '.join(header) or 'none'}); "
            "name the text columns with --text-columns"
        )
    positions = [header.index(column) for column in text_columns]
    id_position = header.index(id_column) if id_column in header else None
    rows, malformed = [], []
    for line, record in records:
        if isinstance(record, MalformedRecord):
            malformed.append(record)
        elif len(record) != len(header):
            if record != [] and any(field.strip() for field in record):
                malformed.append(MalformedRecord(line, f"has {len(record)} fields where the header has {len(header)}"))
        else:
            ticket_id = record[id_position].strip() if id_position is not None else ""
            texts = [record[position] for position in positions]
            rows.append(
                InputRow(
                    ticket_id=ticket_id or f"row-{line}",
                    row=line,
                    subject=texts[0] if len(texts) == 2 else "",
                    description=texts[-1],
                    fields=record,
                )
            )
    duplicates = [ticket_id for ticket_id, count in Counter(row.ticket_id for row in rows).items() if count > 1]
    if duplicates:
        raise TicketClassifierError(f"{name}: ticket id {duplicates[0]!r} appears more than once in column {id_column}")
    return InputFile(header, rows, malformed)


def _records(text: str) -> Iterator[tuple[int, "list[str] | MalformedRecord"]]:
    """``(first line, fields)`` of each CSV record; an unreadable one yields a :class:`MalformedRecord`
    and reading resumes at the line after its start."""
    lines = io.StringIO(text, newline="").readlines()
    csv.field_size_limit(sys.maxsize)
    start = 0
    while start < len(lines):
        feeder = _LineFeeder(lines, start)
        reader = csv.reader(feeder, strict=True)
        try:
            for record in reader:
                yield feeder.record_start + 1, record
                feeder.record_start = feeder.position
            return
        except csv.Error as exc:
            first = feeder.record_start
            spanned = feeder.position - first
            reason = f"cannot be read as CSV ({exc})"
            if spanned > 1:
                reason += f"; an unbalanced quote would have merged {spanned} lines: only this line is skipped"
            yield first + 1, MalformedRecord(first + 1, reason)
            start = first + 1


class _LineFeeder:
    """Feeds lines to ``csv.reader`` from ``start``, remembering where the current record began."""

    def __init__(self, lines: list[str], start: int) -> None:
        self.lines = lines
        self.position = start
        self.record_start = start

    def __iter__(self) -> "_LineFeeder":
        return self

    def __next__(self) -> str:
        if self.position >= len(self.lines):
            raise StopIteration
        line = self.lines[self.position]
        self.position += 1
        return line
