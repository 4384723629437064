"""Classify a whole CSV file through the server: bounded concurrency, resumable, nothing dropped.

Every input row ends up either in the output file (its prediction) or in the errors file
(with the reason). Rows already in the output file are skipped, so rerunning the same
command after an interruption finishes the job; rows that failed are tried again.
"""

import asyncio
import csv
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from ticket_classifier.clients.async_client import AsyncTicketClassifierClient
from ticket_classifier.clients.prediction import Prediction
from ticket_classifier.errors import TicketClassifierError

OUTPUT_COLUMNS = (
    "ticket_id",
    "category",
    "confidence",
    "top_3",
    "requires_review",
    "review_reasons",
    "model_version",
)
ERROR_COLUMNS = ("ticket_id", "row", "reason")


@dataclass
class InputRow:
    """One ticket of the input file."""

    ticket_id: str
    row: int
    subject: str
    description: str


@dataclass
class BatchSummary:
    """What one run of :func:`classify_csv` did."""

    rows: int = 0
    skipped: int = 0
    classified: int = 0
    failed: int = 0
    needs_review: int = 0
    categories: Counter = field(default_factory=Counter)
    seconds: float = 0.0

    def lines(self) -> list[str]:
        """The closing summary, for people."""
        rate = self.classified / self.seconds if self.seconds else 0.0
        review = self.needs_review / self.classified if self.classified else 0.0
        lines = [
            f"rows: {self.rows}; already done (skipped): {self.skipped}; classified now: {self.classified}; "
            f"failed: {self.failed}",
            f"needs review: {self.needs_review} ({review:.1%}); throughput {rate:.1f} tickets/s",
        ]
        lines += [f"  {category}: {count}" for category, count in self.categories.most_common()]
        return lines


def read_input(path: Path, id_column: str, subject_column: str, description_column: str) -> list[InputRow]:
    """The tickets of ``path``; the id column is optional (row numbers then), duplicates are an error."""
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            columns = reader.fieldnames or []
            missing = [name for name in (subject_column, description_column) if name not in columns]
            if missing:
                raise TicketClassifierError(
                    f"{path} lacks column(s) {', '.join(missing)} (columns found: {', '.join(columns) or 'none'})"
                )
            rows = [
                InputRow(
                    ticket_id=(record.get(id_column) or "").strip() or f"row-{number}",
                    row=number,
                    subject=record.get(subject_column) or "",
                    description=record.get(description_column) or "",
                )
                for number, record in enumerate(reader, start=2)
            ]
    except FileNotFoundError:
        raise TicketClassifierError(f"input file not found: {path}") from None
    except UnicodeDecodeError as exc:
        raise TicketClassifierError(f"{path} is not valid UTF-8 (byte offset {exc.start})") from None
    except csv.Error as exc:
        raise TicketClassifierError(f"cannot read {path} as CSV: {exc}") from None
    duplicates = [ticket_id for ticket_id, count in Counter(row.ticket_id for row in rows).items() if count > 1]
    if duplicates:
        raise TicketClassifierError(f"{path}: ticket id {duplicates[0]!r} appears more than once in column {id_column}")
    return rows


def done_ids(output: Path) -> set[str]:
    """Ticket ids already in an output file of an earlier run."""
    if not output.exists():
        return set()
    with output.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames != list(OUTPUT_COLUMNS):
            raise TicketClassifierError(
                f"{output} exists but is not a predictions file of this tool; choose another --output"
            )
        return {record["ticket_id"] for record in reader}


def prediction_row(ticket_id: str, prediction: Prediction) -> list:
    """One output line."""
    return [
        ticket_id,
        prediction.category,
        f"{prediction.confidence:.6f}",
        "|".join(f"{label}:{score:.4f}" for label, score in prediction.top_k),
        "true" if prediction.requires_review else "false",
        "; ".join(prediction.review_reasons),
        prediction.model_version,
    ]


async def classify_csv(
    input_path: Path,
    output_path: Path,
    errors_path: Path,
    client_factory: Callable[[], AsyncTicketClassifierClient],
    *,
    id_column: str = "ticket_id",
    subject_column: str = "subject",
    description_column: str = "description",
    batch_size: int = 16,
    concurrency: int = 4,
    show_progress: bool = True,
) -> BatchSummary:
    """Classify every not-yet-done row of ``input_path``; append to ``output_path``, failures to ``errors_path``."""
    if batch_size < 1 or concurrency < 1:
        raise TicketClassifierError("--batch-size and --concurrency must be at least 1")
    started = time.monotonic()
    rows = read_input(input_path, id_column, subject_column, description_column)
    finished = done_ids(output_path)
    summary = BatchSummary(rows=len(rows), skipped=sum(row.ticket_id in finished for row in rows))
    pending = [row for row in rows if row.ticket_id not in finished]
    output_path.parent.mkdir(parents=True, exist_ok=True)
    new_output = not output_path.exists()
    with (
        output_path.open("a", newline="", encoding="utf-8") as out,
        errors_path.open("w", newline="", encoding="utf-8") as err,
    ):
        output, errors = csv.writer(out), csv.writer(err)
        if new_output:
            output.writerow(OUTPUT_COLUMNS)
        errors.writerow(ERROR_COLUMNS)
        progress = tqdm(total=len(rows), initial=summary.skipped, unit="ticket", disable=not show_progress)

        def record(row: InputRow, prediction: Prediction | None, reason: str | None) -> None:
            if prediction is None:
                errors.writerow([row.ticket_id, row.row, reason])
                summary.failed += 1
            else:
                output.writerow(prediction_row(row.ticket_id, prediction))
                summary.classified += 1
                summary.needs_review += prediction.requires_review
                summary.categories[prediction.category] += 1
            progress.update(1)

        sendable = []
        for row in pending:
            if row.subject.strip() or row.description.strip():
                sendable.append(row)
            else:
                record(row, None, "subject and description are both empty")
        async with client_factory() as client:
            if sendable and not await client.is_ready():
                raise TicketClassifierError(
                    f"model '{client.model_name}' is not ready on {client.url} ({client.protocol}); nothing was sent"
                )
            await _classify_rows(client, sendable, record, batch_size, concurrency)
        out.flush()
        progress.close()
    summary.seconds = time.monotonic() - started
    return summary


async def _classify_rows(client, rows: list[InputRow], record, batch_size: int, concurrency: int) -> None:
    """Batches of ``batch_size`` rows, at most ``concurrency`` requests in flight."""
    semaphore = asyncio.Semaphore(concurrency)

    async def one_batch(batch: list[InputRow]) -> None:
        async with semaphore:
            try:
                predictions = await client.classify_batch([(row.subject, row.description) for row in batch])
            except TicketClassifierError as exc:
                if len(batch) == 1:
                    record(batch[0], None, str(exc))
                    return
                for row in batch:  # find the rows at fault: each on its own
                    await one_batch_single(row)
                return
        for row, prediction in zip(batch, predictions):
            record(row, prediction, None)

    async def one_batch_single(row: InputRow) -> None:
        try:
            prediction = await client.classify(row.subject, row.description)
        except TicketClassifierError as exc:
            record(row, None, str(exc))
            return
        record(row, prediction, None)

    await asyncio.gather(*(one_batch(rows[i : i + batch_size]) for i in range(0, len(rows), batch_size)))
