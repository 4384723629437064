"""The predictions file of ``classify --input``: its columns, its rows, and proving a resumed run continues it.

Written a batch at a time (:class:`OrderedWriter`); checked and trimmed before a rerun appends to
it (:func:`resume_point`); put back in input order when a resumed run finishes
(:func:`restore_input_order`).
"""

import csv
import io
import os
import sys
from pathlib import Path

from ticket_classifier.clients.csv_input import InputFile, InputRow
from ticket_classifier.clients.prediction import Prediction
from ticket_classifier.errors import TicketClassifierError
from ticket_classifier.runtime.review import REASON_SEPARATOR

# The output is every input column, in order, then these (an input column of the same name is an error).
PREDICTION_COLUMNS = (
    "predicted_category",
    "confidence",
    "top_3",
    "requires_review",
    "review_reasons",
    "model_version",
    "novelty",
    "input_line",
    "text_sha256",
)


def prediction_row(row: InputRow, prediction: Prediction) -> list:
    """One output line: the input row's cells, then the prediction."""
    return [
        *row.fields,
        prediction.category,
        f"{prediction.confidence:.6f}",
        "|".join(f"{label}:{score:.4f}" for label, score in prediction.top_k),
        "true" if prediction.requires_review else "false",
        REASON_SEPARATOR.join(prediction.review_reasons),
        prediction.model_version,
        f"{prediction.novelty:.4f}",
        row.row,
        row.text_sha256,
    ]


def output_columns(header: list[str]) -> list[str]:
    """The output's header for an input with ``header``."""
    clashes = [name for name in header if name in PREDICTION_COLUMNS]
    if clashes:
        raise TicketClassifierError(
            f"the input has column(s) named like the prediction's: {', '.join(clashes)}; rename them"
        )
    return [*header, *PREDICTION_COLUMNS]


def resume_point(output: Path, source: InputFile, id_column: str) -> set[str]:
    """Ids already in an earlier run's output, after proving that output belongs to these rows.

    A torn last line is cut off (its row is done again). An output of another shape, or whose
    rows do not match the input's text, is refused with the first mismatch named.
    """
    if not output.exists():
        return set()
    cut_torn_last_line(output)
    by_id = {row.ticket_id: row for row in source.rows}
    with output.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header != output_columns(source.header):
            raise TicketClassifierError(
                f"{output} exists but is not a predictions file of this input; choose another --output"
            )
        done = set()
        for record in reader:
            fingerprint = record[-1]
            ticket_id = record_id(record, header, source.header, id_column)
            row = by_id.get(ticket_id)
            if row is None or row.text_sha256 != fingerprint:
                why = "is not in the input" if row is None else f"has other text in the input (line {row.row})"
                raise TicketClassifierError(
                    f"{output} was written for other input: ticket {ticket_id!r} {why}; "
                    "choose another --output, or delete it to start over"
                )
            done.add(ticket_id)
    return done


def cut_torn_last_line(path: Path, chunk: int = 65536) -> None:
    """Truncate ``path`` after its last newline (a killed writer may leave half a line, of any length)."""
    with path.open("rb+") as handle:
        size = handle.seek(0, os.SEEK_END)
        if size == 0:
            return
        handle.seek(size - 1)
        if handle.read(1) == b"\n":
            return
        end = size
        while end > 0:
            start = max(0, end - chunk)
            handle.seek(start)
            newline = handle.read(end - start).rfind(b"\n")
            if newline >= 0:
                handle.truncate(start + newline + 1)
                return
            end = start
        handle.truncate(0)


class OrderedWriter:
    """Appends CSV rows in whole batches (one write, flushed and synced), so a crash tears at most a line.

    ``path`` None writes standard output (flushed, not synced, never closed).
    """

    def __init__(self, path: Path | None, header: "list[str] | tuple[str, ...]", *, append: bool) -> None:
        exists = path is not None and append and path.exists() and path.stat().st_size > 0
        self.handle = sys.stdout if path is None else path.open("a" if append else "w", newline="", encoding="utf-8")
        if not exists:
            self.write([list(header)])

    def write(self, records: list[list]) -> None:
        """Write ``records`` at once."""
        if not records:
            return
        buffer = io.StringIO()
        csv.writer(buffer).writerows(records)
        self.handle.write(buffer.getvalue())
        self.handle.flush()
        if self.handle is not sys.stdout:
            os.fsync(self.handle.fileno())

    def close(self) -> None:
        """Close the file."""
        if self.handle is not sys.stdout:
            self.handle.close()


def restore_input_order(output: Path, source: InputFile, id_column: str) -> None:
    """Rewrite a finished output in input order, with this input's line numbers (a resumed run appended its
    rows after the earlier ones, which may come from another copy of the same tickets)."""
    by_id = {row.ticket_id: (position, row) for position, row in enumerate(source.rows)}
    with output.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        records = list(reader)
    line = header.index("input_line")
    keyed = []
    for record in records:
        position, row = by_id[record_id(record, header, source.header, id_column)]
        keyed.append((position, [*record[:line], str(row.row), *record[line + 1 :]]))
    ordered = [record for _, record in sorted(keyed, key=lambda item: item[0])]
    if ordered == records:
        return
    temporary = output.with_name(output.name + ".tmp")
    with temporary.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(ordered)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, output)


def record_id(record: list[str], header: list[str], input_header: list[str], id_column: str) -> str:
    """The ticket id of an output record: its id column, else ``row-<input line>``."""
    if id_column in input_header:
        return record[header.index(id_column)]
    return f"row-{record[header.index('input_line')]}"
