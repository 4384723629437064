"""Classify a whole CSV file through the server: bounded concurrency, resumable, nothing lost or mislabelled.

The output carries every input column (an id, a customer number ...) followed by the prediction's
(:data:`PREDICTION_COLUMNS`). Every input row ends up either in the output file or in the errors file
(with the reason, and the line number): rows with no text, rows over the server's size limits,
records the CSV parser cannot read. Rerunning the same command after an interruption finishes
the job:

* the output records each row's text fingerprint (``text_sha256``): a rerun continues an
  output only if every row in it matches the input row with the same id, so an output of
  another file, or of a changed one, is refused instead of being trusted;
* predictions are appended a batch at a time, each batch in one write, flushed to disk; a
  torn last line (the process was killed mid-write) is cut off and its row done again;
* results are written in input order, and a finished run leaves the whole output in input
  order even when it was done in several sittings;
* when the server stops answering, the run stops after ``max_consecutive_failures`` batches in
  a row could not be served (instead of sending every remaining row to the errors file) and
  says how to resume.
"""

import asyncio
import csv
import io
import os
import sys
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from ticket_classifier.clients.async_client import AsyncTicketClassifierClient
from ticket_classifier.clients.csv_input import InputFile, InputRow, read_input
from ticket_classifier.clients.prediction import Prediction
from ticket_classifier.clients.protocol import ServingLimits, plan_requests
from ticket_classifier.errors import ServerUnavailableError, TicketClassifierError
from ticket_classifier.text import join_ticket_text

# The output is every input column, in order, then these (an input column of the same name is an error).
PREDICTION_COLUMNS = (
    "predicted_category",
    "confidence",
    "top_3",
    "requires_review",
    "review_reasons",
    "model_version",
    "input_line",
    "text_sha256",
)
ERROR_COLUMNS = ("ticket_id", "row", "reason")


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
    stopped: str | None = None

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
        if self.stopped:
            left = self.rows - self.skipped - self.classified - self.failed
            lines.append(f"stopped: {self.stopped}; {left} rows not sent yet: run the same command again to resume")
        return lines


def prediction_row(row: InputRow, prediction: Prediction) -> list:
    """One output line: the input row's cells, then the prediction."""
    return [
        *row.fields,
        prediction.category,
        f"{prediction.confidence:.6f}",
        "|".join(f"{label}:{score:.4f}" for label, score in prediction.top_k),
        "true" if prediction.requires_review else "false",
        "; ".join(prediction.review_reasons),
        prediction.model_version,
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
    _cut_torn_last_line(output)
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
            ticket_id = _record_id(record, header, source.header, id_column)
            row = by_id.get(ticket_id)
            if row is None or row.text_sha256 != fingerprint:
                why = "is not in the input" if row is None else f"has other text in the input (line {row.row})"
                raise TicketClassifierError(
                    f"{output} was written for other input: ticket {ticket_id!r} {why}; "
                    "choose another --output, or delete it to start over"
                )
            done.add(ticket_id)
    return done


def _cut_torn_last_line(path: Path) -> None:
    """Truncate ``path`` after its last newline (a killed writer may leave half a line)."""
    with path.open("rb+") as handle:
        handle.seek(0, os.SEEK_END)
        size = handle.tell()
        if size == 0:
            return
        handle.seek(max(0, size - 65536))
        tail = handle.read()
        if tail.endswith(b"\n"):
            return
        cut = tail.rfind(b"\n")
        handle.truncate(size - len(tail) + cut + 1 if cut >= 0 else 0)


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


async def classify_csv(
    input_path: Path | None,
    output_path: Path | None,
    errors_path: Path,
    client_factory: Callable[[], AsyncTicketClassifierClient],
    *,
    id_column: str = "ticket_id",
    text_columns: tuple[str, ...] = ("subject", "description"),
    batch_size: int = 16,
    concurrency: int = 4,
    max_consecutive_failures: int = 3,
    show_progress: bool = True,
) -> BatchSummary:
    """Classify every not-yet-done row of ``input_path`` (None: standard input); append to ``output_path``
    (None: standard output, no resume), failures to ``errors_path``."""
    if batch_size < 1 or concurrency < 1 or max_consecutive_failures < 1:
        raise TicketClassifierError("--batch-size, --concurrency and --max-consecutive-failures must be at least 1")
    started = time.monotonic()
    source = read_input(input_path, id_column, list(text_columns))
    header = output_columns(source.header)
    finished = resume_point(output_path, source, id_column) if output_path is not None else set()
    summary = BatchSummary(rows=len(source.rows) + len(source.malformed), skipped=len(finished))
    pending = [row for row in source.rows if row.ticket_id not in finished]
    if output_path is not None:
        output_path.parent.mkdir(parents=True, exist_ok=True)
    output = OrderedWriter(output_path, header, append=True)
    errors = OrderedWriter(errors_path, ERROR_COLUMNS, append=False)
    progress = tqdm(total=summary.rows, initial=summary.skipped, unit="ticket", disable=not show_progress)
    try:
        errors.write([["", record.row, f"line {record.row} {record.reason}"] for record in source.malformed])
        summary.failed += len(source.malformed)
        progress.update(len(source.malformed))
        async with client_factory() as client:
            if pending and not await client.is_ready():
                raise TicketClassifierError(
                    f"model '{client.model_name}' is not ready on {client.url} ({client.protocol}); nothing was sent"
                )
            limits = await client.limits() if pending else None
            run = _Run(client, limits, output, errors, summary, progress, max_consecutive_failures)
            await run.classify(pending, batch_size, concurrency)
    finally:
        progress.close()
        output.close()
        errors.close()
    summary.seconds = time.monotonic() - started
    if output_path is not None and summary.stopped is None and summary.skipped:
        _restore_input_order(output_path, source, id_column)
    return summary


class _Run:
    """One run's batches: sent with bounded concurrency, written in input order."""

    def __init__(self, client, limits: ServingLimits, output, errors, summary, progress, max_failures: int) -> None:
        self.client, self.limits = client, limits
        self.output, self.errors = output, errors
        self.summary, self.progress = summary, progress
        self.max_failures = max_failures
        self.consecutive_failures = 0

    async def classify(self, rows: list[InputRow], batch_size: int, concurrency: int) -> None:
        """Up to ``concurrency`` batches in flight; results written oldest batch first."""
        batches = [rows[start : start + batch_size] for start in range(0, len(rows), batch_size)]
        in_flight: deque = deque()
        for batch in batches:
            in_flight.append(asyncio.ensure_future(self._batch(batch)))
            if len(in_flight) >= concurrency and not await self._write_oldest(in_flight):
                break
        while in_flight and await self._write_oldest(in_flight):
            pass
        for task in in_flight:
            task.cancel()

    async def _write_oldest(self, in_flight: deque) -> bool:
        """Write the oldest batch's results; False once the server is judged gone (the run stops)."""
        results = await in_flight.popleft()
        predicted = [(row, outcome) for row, outcome in results if isinstance(outcome, Prediction)]
        failed = [(row, outcome) for row, outcome in results if isinstance(outcome, str)]
        self.output.write([prediction_row(row, prediction) for row, prediction in predicted])
        self.errors.write([[row.ticket_id, row.row, reason] for row, reason in failed])
        for _, prediction in predicted:
            self.summary.needs_review += prediction.requires_review
            self.summary.categories[prediction.category] += 1
        self.summary.classified += len(predicted)
        self.summary.failed += len(failed)
        self.progress.update(len(predicted) + len(failed))
        return self.summary.stopped is None

    async def _batch(self, batch: list[InputRow]) -> list[tuple[InputRow, "Prediction | str | None"]]:
        """Each row's prediction or failure reason (None: not sent, the run stopped); rows refused by the
        checks are never sent."""
        outcomes: dict[int, Prediction | str | None] = {}
        sendable = []
        for index, row in enumerate(batch):
            reason = self._refusal(row)
            if reason:
                outcomes[index] = reason
            else:
                sendable.append(index)
        if sendable and self.summary.stopped is None:
            try:
                predictions = await self.client.classify_batch(
                    [(batch[i].subject, batch[i].description) for i in sendable]
                )
                outcomes.update(zip(sendable, predictions))
                self.consecutive_failures = 0
            except ServerUnavailableError as exc:
                self._count_failure(str(exc))
                outcomes.update((i, str(exc)) for i in sendable)
            except TicketClassifierError:
                for i in sendable:  # find the rows at fault: each on its own
                    outcomes[i] = await self._single(batch[i])
        elif sendable:
            outcomes.update((i, None) for i in sendable)
        return [(row, outcomes[index]) for index, row in enumerate(batch)]

    async def _single(self, row: InputRow) -> "Prediction | str":
        """One row on its own."""
        try:
            return await self.client.classify(row.subject, row.description)
        except TicketClassifierError as exc:
            return str(exc)

    def _refusal(self, row: InputRow) -> str | None:
        """Why ``row`` is not sent (no text, over the server's limits), or None."""
        if not join_ticket_text((row.subject, row.description)):
            return "subject and description have no text"
        try:
            plan_requests([row.subject], [row.description], self.limits)
        except TicketClassifierError as exc:
            return str(exc).removeprefix("ticket 0: ")
        return None

    def _count_failure(self, reason: str) -> None:
        """One more batch the server could not serve; enough in a row stops the run."""
        self.consecutive_failures += 1
        if self.consecutive_failures >= self.max_failures and self.summary.stopped is None:
            self.summary.stopped = f"{self.consecutive_failures} batches in a row could not be served ({reason})"


def _restore_input_order(output: Path, source: InputFile, id_column: str) -> None:
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
        position, row = by_id[_record_id(record, header, source.header, id_column)]
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


def _record_id(record: list[str], header: list[str], input_header: list[str], id_column: str) -> str:
    """The ticket id of an output record: its id column, else ``row-<input line>``."""
    if id_column in input_header:
        return record[header.index(id_column)]
    return f"row-{record[header.index('input_line')]}"
