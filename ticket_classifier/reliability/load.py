"""Steady client traffic in the background, recording every request's outcome (for the fault scenarios).

The workers use the product's own asyncio client with its default retries: a failure counted
here is one a real client would have seen.
"""

import asyncio
import threading
import time
from dataclasses import dataclass, field

from ticket_classifier.clients.async_client import AsyncTicketClassifierClient
from ticket_classifier.errors import TicketClassifierError
from ticket_classifier.samples import SAMPLE_TICKETS


@dataclass
class Outcome:
    """One request: when it ended, whether it succeeded, how long it took, its error."""

    ended: float
    ok: bool
    seconds: float
    error: str = ""


@dataclass
class LoadResult:
    """Every outcome of one load run, and figures drawn from them."""

    outcomes: list[Outcome] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def failed(self) -> list[Outcome]:
        """The failed requests."""
        return [outcome for outcome in self.outcomes if not outcome.ok]

    def quantile_ms(self, q: float) -> float:
        """A latency quantile of the successful requests, in milliseconds."""
        times = sorted(outcome.seconds for outcome in self.outcomes if outcome.ok)
        return 1000 * times[min(len(times) - 1, int(q * len(times)))] if times else float("nan")

    def summary(self) -> dict:
        """Requests, failures, throughput and latency quantiles."""
        return {
            "requests": len(self.outcomes),
            "failed": len(self.failed),
            "per_second": round(len(self.outcomes) / self.seconds, 1) if self.seconds else 0.0,
            "p50_ms": round(self.quantile_ms(0.5), 1),
            "p99_ms": round(self.quantile_ms(0.99), 1),
            "max_ms": round(max((o.seconds for o in self.outcomes), default=0.0) * 1000, 1),
        }

    def recovery_seconds(self, since: float) -> float:
        """Seconds from ``since`` to the first success after the last failure (0 if nothing failed)."""
        failures = [outcome.ended for outcome in self.failed if outcome.ended >= since]
        if not failures:
            return 0.0
        last = max(failures)
        after = [outcome.ended for outcome in self.outcomes if outcome.ok and outcome.ended > last]
        return round((min(after) if after else last) - since, 2)


class Load:
    """``concurrency`` workers, one ticket per request, until :meth:`stop`."""

    def __init__(self, url: str, *, protocol: str = "grpc", concurrency: int = 8, timeout_s: float = 10.0) -> None:
        self.url, self.protocol, self.concurrency, self.timeout_s = url, protocol, concurrency, timeout_s
        self.result = LoadResult()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    def __enter__(self) -> "Load":
        self.started = time.monotonic()
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stop(self) -> LoadResult:
        """Stop the workers; returns what they recorded."""
        self.stopping.set()
        self.thread.join(timeout=60)
        self.result.seconds = time.monotonic() - self.started
        return self.result

    def wait_for(self, requests: int, timeout_s: float = 120.0) -> None:
        """Block until ``requests`` more requests have ended."""
        target = len(self.result.outcomes) + requests
        deadline = time.monotonic() + timeout_s
        while len(self.result.outcomes) < target and time.monotonic() < deadline:
            time.sleep(0.02)

    async def _main(self) -> None:
        async with AsyncTicketClassifierClient(self.url, protocol=self.protocol, timeout_s=self.timeout_s) as client:
            await asyncio.gather(*(self._worker(client, index) for index in range(self.concurrency)))

    async def _worker(self, client: AsyncTicketClassifierClient, index: int) -> None:
        while not self.stopping.is_set():
            subject, description = SAMPLE_TICKETS[index % len(SAMPLE_TICKETS)]
            index += self.concurrency
            started = time.monotonic()
            try:
                await client.classify(subject, description)
                outcome = Outcome(time.monotonic(), True, time.monotonic() - started)
            except TicketClassifierError as exc:
                outcome = Outcome(time.monotonic(), False, time.monotonic() - started, str(exc)[:200])
                await asyncio.sleep(0.05)  # a failing server is not hammered in a tight loop
            self.result.outcomes.append(outcome)
