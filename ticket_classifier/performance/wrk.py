"""``wrk`` (C, closed loop: each connection sends its next request when the last one is answered)
against the plain-HTTP peer services, the same kind of load perf_analyzer puts on Triton.

Installed from the system's packages (Debian/Ubuntu: ``apt-get install wrk``). A Lua script
cycles through the tickets' JSON bodies and prints the summary as one JSON line.
"""

import json
import shutil

from ticket_classifier.errors import TicketClassifierError
from ticket_classifier.performance.load import LoadGenerator, LoadPoint, run_generator

SCRIPT = r"""
local bodies = {}
local sent = 0
function init(args)
  for line in io.lines(args[1]) do bodies[#bodies + 1] = line end
end
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
function request()
  local body = bodies[(sent % #bodies) + 1]
  sent = sent + 1
  return wrk.format(nil, nil, nil, body)
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "socket_errors": %d, "status_errors": %d, ' ..
    '"p50_us": %d, "p95_us": %d, "p99_us": %d}\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(95), latency:percentile(99)))
end
"""
REQUEST_TIMEOUT_S = 30


def locate() -> str:
    """The ``wrk`` binary on ``PATH``."""
    binary = shutil.which("wrk")
    if not binary:
        raise TicketClassifierError("wrk not found: install it (Debian/Ubuntu: apt-get install wrk)")
    return binary


class Wrk(LoadGenerator):
    """Runs wrk at one concurrency at a time against a JSON endpoint."""

    def __init__(self, bodies: list[dict], *, seconds: float = 9.0) -> None:
        self.binary = locate()
        super().__init__("wrk-")
        self.seconds = seconds
        self.script = self.folder / "bodies.lua"
        self.script.write_text(SCRIPT, encoding="utf-8")
        self.bodies = self.folder / "bodies.jsonl"
        self.bodies.write_text("".join(json.dumps(body) + "\n" for body in bodies), encoding="utf-8")

    def measure(self, url: str, concurrency: int, target: str, *, seconds: float | None = None) -> LoadPoint:
        """``concurrency`` connections (one wrk thread) for ``seconds``."""
        seconds = seconds or self.seconds
        command = [
            self.binary,
            "-t1",
            f"-c{concurrency}",
            f"-d{max(1, round(seconds))}s",
            f"--timeout={REQUEST_TIMEOUT_S}s",
            "-s",
            str(self.script),
            url,
            "--",
            str(self.bodies),
        ]
        run = run_generator(command, timeout_s=seconds + REQUEST_TIMEOUT_S + 30)
        summary = next((line for line in run.stdout.splitlines() if line.startswith('{"requests"')), None)
        if run.returncode != 0 or summary is None:
            raise TicketClassifierError(f"wrk failed against {url}: {(run.stdout + run.stderr).strip()[-500:]}")
        return parse_summary(json.loads(summary), target=target, concurrency=concurrency, cpu_share=run.cpu_share)


def parse_summary(summary: dict, *, target: str, concurrency: int, cpu_share: float) -> LoadPoint:
    """The load point of the script's JSON line (latencies in microseconds); answers that were not 2xx or 3xx
    are errors, not throughput."""
    return LoadPoint(
        target=target,
        protocol="http",
        concurrency=concurrency,
        throughput_per_s=(summary["requests"] - summary["status_errors"]) / (summary["duration_us"] / 1e6),
        p50_ms=summary["p50_us"] / 1000,
        p95_ms=summary["p95_us"] / 1000,
        p99_ms=summary["p99_us"] / 1000,
        requests=summary["requests"],
        errors=summary["socket_errors"] + summary["status_errors"],
        generator="wrk",
        generator_cpu_share=cpu_share,
    )
