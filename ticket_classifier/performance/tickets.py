"""The tickets a benchmark sends: rows of a CSV file, as (subject, description) pairs."""

import csv
from pathlib import Path

from ticket_classifier.errors import TicketClassifierError


def read_tickets(path: "str | Path", fields: list[str], limit: int) -> list[tuple[str, str]]:
    """The first ``limit`` rows of ``path``: two columns as subject and description, or one text column
    (then the subject is empty). Rows whose text is empty are skipped."""
    if len(fields) not in (1, 2):
        raise TicketClassifierError("--text-fields takes one or two column names (subject,description)")
    if limit < 1:
        raise TicketClassifierError(f"--tickets must be at least 1, got {limit}")
    csv.field_size_limit(2**31 - 1)
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            missing = [name for name in fields if name not in (reader.fieldnames or [])]
            if missing:
                raise TicketClassifierError(f"{path} lacks column(s) {', '.join(missing)} (has: {reader.fieldnames})")
            tickets = []
            for row in reader:
                values = [row[name] or "" for name in fields]
                if any(value.strip() for value in values):
                    tickets.append(("", values[0]) if len(values) == 1 else (values[0], values[1]))
                if len(tickets) == limit:
                    break
    except FileNotFoundError:
        raise TicketClassifierError(f"data file not found: {path}") from None
    except UnicodeDecodeError as exc:
        raise TicketClassifierError(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    if not tickets:
        raise TicketClassifierError(f"{path} has no tickets with text in {', '.join(fields)}")
    return tickets
