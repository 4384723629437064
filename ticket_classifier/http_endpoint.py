"""A small HTTP endpoint that answers GET on a fixed set of paths and 404 on anything else.

The supervisor's ``/ready`` and ``/live`` and the drift monitor's ``/metrics`` and ``/healthz``
are served by it: standard library only, a thread per request, no access log (probes and
scrapes come every few seconds).
"""

import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from ticket_classifier.errors import TicketClassifierError

# A route answers ``(status, content type, body)``.
Route = Callable[[], tuple[int, str, bytes]]


class Endpoint:
    """Serves ``routes`` on ``host:port`` from a daemon thread; use it as a context manager."""

    def __init__(self, host: str, port: int, routes: Mapping[str, Route], what: str) -> None:
        known = ", ".join(sorted(routes))

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
                route = routes.get(self.path)
                status, content_type, body = route() if route else (404, "text/plain", f"try {known}\n".encode())
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args) -> None:  # noqa: A002 - no access log
                pass

        try:
            self.httpd = ThreadingHTTPServer((host, port), Handler)
        except OSError as exc:
            raise TicketClassifierError(f"cannot open the {what} on {host}:{port}: {exc.strerror}") from None
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        """The port it listens on (useful with port 0)."""
        return self.httpd.server_address[1]

    def __enter__(self) -> "Endpoint":
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)
