"""Classify a whole CSV file through the server: bounded concurrency, resumable, nothing lost or mislabelled.

The output carries every input column (an id, a customer number ...) followed by the prediction's
(:mod:`ticket_classifier.clients.output_file`). Every input row ends up either in the output file or in the errors file
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
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from ticket_classifier.clients.async_client import AsyncTicketClassifierClient
from ticket_classifier.clients.csv_input import InputRow, read_input
from ticket_classifier.clients.output_file import (
    OrderedWriter,
    output_columns,
    prediction_row,
    restore_input_order,
    resume_point,
)
from ticket_classifier.clients.prediction import Prediction
from ticket_classifier.clients.protocol import ServingLimits, plan_requests
from ticket_classifier.errors import ServerUnavailableError, TicketClassifierError
from ticket_classifier.runtime.text import join_ticket_text

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
            f"needs review: {self.needs_review} of the {self.classified} classified now ({review:.1%}); "
            f"throughput {rate:.1f} tickets/s",
        ]
        lines += [f"  {category}: {count}" for category, count in self.categories.most_common()]
        if self.stopped:
            left = self.rows - self.skipped - self.classified - self.failed
            lines.append(f"stopped: {self.stopped}; {left} rows not sent yet: run the same command again to resume")
        return lines


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
            run = _Run(client, limits, output, errors, summary, progress, max_consecutive_failures, text_columns)
            await run.classify(pending, batch_size, concurrency)
    finally:
        progress.close()
        output.close()
        errors.close()
    summary.seconds = time.monotonic() - started
    if output_path is not None and summary.stopped is None and summary.skipped:
        restore_input_order(output_path, source, id_column)
    return summary


class _Run:
    """One run's batches: sent with bounded concurrency, written in input order."""

    def __init__(
        self, client, limits: ServingLimits, output, errors, summary, progress, max_failures: int, text_columns
    ) -> None:
        self.client, self.limits = client, limits
        self.output, self.errors = output, errors
        self.summary, self.progress = summary, progress
        self.max_failures = max_failures
        self.consecutive_failures = 0
        columns = " and ".join(text_columns)
        self.empty_text = f"column {columns} is empty" if len(text_columns) == 1 else f"columns {columns} are empty"

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
            return self.empty_text
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
