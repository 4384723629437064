"""Webhook deliveries off the scrape loop: a bounded queue, a worker thread, retries with backoff.

A slow or failing receiver never delays a scrape. Messages wait in a queue of at most
``webhook_queue_size``; when it is full the oldest is dropped (and counted). Each message is
tried ``webhook_attempts`` times with doubling waits; what could not be delivered is counted
and logged. The receiver's URL is logged only as ``scheme://host/...`` (it may hold a token).
"""

import json
import logging
import queue
import threading
import time
import urllib.error
import urllib.request

from ticket_classifier.monitoring.settings import DriftMonitorConfig, redact_url

log = logging.getLogger(__name__)


class WebhookSender:
    """Delivers JSON messages to one URL from a background thread; see the module documentation."""

    def __init__(self, config: DriftMonitorConfig, counters) -> None:
        self.config = config
        self.counters = counters  # the sidecar's delivered / failed / dropped counters
        self.queue: queue.Queue = queue.Queue(maxsize=config.webhook_queue_size)
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._work, name="webhook", daemon=True)
        self.thread.start()

    def send(self, message: dict) -> None:
        """Queue ``message``; never blocks (the oldest waiting message gives way when the queue is full)."""
        while True:
            try:
                self.queue.put_nowait(message)
                return
            except queue.Full:
                try:
                    self.queue.get_nowait()
                    self.queue.task_done()
                    self.counters.dropped.inc()
                    log.warning("webhook queue full: dropped the oldest message")
                except queue.Empty:
                    pass

    def drain(self, timeout_s: float) -> bool:
        """Wait until every queued message was delivered or given up; False on timeout."""
        deadline = time.monotonic() + timeout_s
        while self.queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.02)
        return not self.queue.unfinished_tasks

    def close(self, timeout_s: float = 5.0) -> None:
        """Stop the worker (messages still waiting are not sent)."""
        self.stopping.set()
        self.thread.join(timeout=timeout_s)

    def _work(self) -> None:
        """Deliver queued messages one by one until closed."""
        while not self.stopping.is_set():
            try:
                message = self.queue.get(timeout=0.2)
            except queue.Empty:
                continue
            try:
                self._deliver(message)
            finally:
                self.queue.task_done()

    def _deliver(self, message: dict) -> None:
        """Up to ``webhook_attempts`` tries with doubling backoff."""
        body = json.dumps(message).encode("utf-8")
        wait = self.config.webhook_backoff_s
        for attempt in range(1, self.config.webhook_attempts + 1):
            request = urllib.request.Request(
                self.config.webhook_url, data=body, headers={"Content-Type": "application/json"}
            )
            try:
                urllib.request.urlopen(request, timeout=self.config.webhook_timeout_s).close()
                self.counters.delivered.inc()
                return
            except (urllib.error.URLError, OSError, ValueError) as exc:
                reason = getattr(exc, "reason", None) or getattr(exc, "code", None) or type(exc).__name__
                log.warning(
                    "webhook %s: attempt %d of %d failed: %s",
                    redact_url(self.config.webhook_url),
                    attempt,
                    self.config.webhook_attempts,
                    reason,
                )
            if attempt < self.config.webhook_attempts and self.stopping.wait(wait):
                break
            wait *= 2
        self.counters.failed.inc()
