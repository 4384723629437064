"""The reliability scenarios: each runs against real processes on loopback, bounded in time, and returns its figures."""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

from ticket_classifier.build.layout import next_version, read_state, step_folders, write_state
from ticket_classifier.build.model_configs import active_build
from ticket_classifier.build.rollout import rollout
from ticket_classifier.errors import TicketClassifierError
from ticket_classifier.health import probe
from ticket_classifier.monitoring.drift_monitor import DriftMonitor
from ticket_classifier.monitoring.settings import DriftMonitorConfig
from ticket_classifier.reliability.bad_requests import (
    INVALID,
    KINDS,
    RAW_HTTP,
    BadRequest,
    json_body,
    post,
    send,
    texts,
)
from ticket_classifier.reliability.load import Load
from ticket_classifier.runtime.contract import CLASSIFIER, ONNX_MODEL_FILENAME
from ticket_classifier.server import ServerConfig, TritonServer, free_ports

FAST_PROBING = "server:\n  probe_interval_s: 1\n  probe_timeout_s: 5\n  probe_failures_before_restart: 2\n"


def bad_requests(server: TritonServer) -> dict:
    """Every kind of bad request over gRPC and HTTP, and the raw HTTP bodies: how many got the expected answer."""
    expected = 0
    wrong = []
    for name, kind in KINDS.items():
        for protocol, url, want in (
            ("grpc", server.grpc_url, kind.grpc_status),
            ("http", server.http_url, str(kind.http_status)),
        ):
            status, _ = send(protocol, url, kind)
            expected += status == want
            if status != want:
                wrong.append(f"{name} ({protocol}): {status}")
    for name, (body, status, _) in RAW_HTTP.items():
        got = post(server.http_url, body)[0]
        expected += got == status
        if got != status:
            wrong.append(f"{name} (raw HTTP): {got}")
    return {"kinds": len(KINDS) + len(RAW_HTTP), "requests": 2 * len(KINDS) + len(RAW_HTTP), "as_expected": expected,
            "unexpected": wrong}  # fmt: skip


def soak(server: TritonServer, seconds: float, concurrency: int) -> dict:
    """``concurrency`` clients for ``seconds``: requests, failures, latency, the server's memory before and after."""
    with Load(server.grpc_url, concurrency=concurrency) as warm_up:
        warm_up.wait_for(2 * concurrency)
    samples = [process_tree_rss_mb(server.process.pid)]
    with Load(server.grpc_url, concurrency=concurrency) as load:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            time.sleep(min(seconds / 6, max(0.0, deadline - time.monotonic())))
            samples.append(process_tree_rss_mb(server.process.pid))
    return {
        **load.result.summary(),
        "rss_before_mb": samples[0],
        "rss_after_mb": samples[-1],
        "rss_samples_mb": samples,
    }


def oversized_tickets(server: TritonServer, sizes_mb: tuple[int, ...] = (20, 50)) -> dict:
    """Huge descriptions sent with ``tritonclient`` (no client-side check) over gRPC and HTTP amid normal
    traffic: the answer, its time, and the other clients' latency."""
    answers = {}
    with Load(server.grpc_url, concurrency=4) as load:
        load.wait_for(20)
        for size in sizes_mb:
            huge = BadRequest(texts([b"huge"], [b"x" * size * 1024 * 1024]), INVALID, 400, "over the limit")
            for protocol, url in (("grpc", server.grpc_url), ("http", server.http_url)):
                started = time.monotonic()
                status, _ = send(protocol, url, huge)
                answers[f"{size} MB over {protocol}"] = {
                    "status": status,
                    "seconds": round(time.monotonic() - started, 2),
                }
        load.wait_for(20)
    return {"answers": answers, "traffic": load.result.summary()}


def json_body_crash(repository: Path, size_mb: int = 5) -> dict:
    """A JSON body over ~4 MB on Triton 2.51's HTTP port (upstream issue 5840 crashes the server), under
    load, with ``serve`` supervising: failed requests and seconds until traffic flows again."""
    with supervised_serve(repository) as (process, http, grpc, health):
        with Load(grpc, concurrency=8) as load:
            load.wait_for(50)
            server = children(process.pid)[0]
            sent = time.monotonic()
            try:
                status = post(http, json_body("huge", "x" * size_mb * 1024 * 1024))[0]
            except OSError as exc:
                status = type(exc).__name__
            time.sleep(1)
            _wait(lambda: health_status(health) == 200, 180)
            restarted = children(process.pid)[0] != server
            load.wait_for(50)
    return {**load.result.summary(), "answer": status, "server_restarted": restarted,
            "recovery_s": load.result.recovery_seconds(sent)}  # fmt: skip


@contextmanager
def supervised_serve(repository: Path):
    """``ticket-classifier serve`` on free loopback ports, probing every second.

    Yields ``(process, http, grpc, health port)``.
    """
    with tempfile.TemporaryDirectory() as folder:
        config = Path(folder) / "production.yaml"
        config.write_text(FAST_PROBING, encoding="utf-8")
        http, grpc, metrics, health = free_ports(4)
        command = [sys.executable, "-m", "ticket_classifier.cli", "serve", "--model-repository", str(repository)]
        command += ["--config", str(config), "--http-port", str(http), "--grpc-port", str(grpc)]
        command += ["--metrics-port", str(metrics), "--health-port", str(health)]
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            _wait(lambda: health_status(health) == 200, 300)
            yield process, f"127.0.0.1:{http}", f"127.0.0.1:{grpc}", health
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()


def stub_kill(repository: Path) -> dict:
    """Kill the tokenizer's Python stub under load: requests failed and seconds until traffic flows again."""
    with supervised_serve(repository) as (process, http, grpc, health):
        with Load(grpc, concurrency=8) as load:
            load.wait_for(50)
            server = children(process.pid)[0]
            first_step = active_build(repository).options.steps[0]
            stub = next(pid for pid in children(server) if first_step.encode() in _cmdline(pid))
            killed = time.monotonic()
            os.kill(stub, signal.SIGKILL)
            time.sleep(1)
            _wait(lambda: health_status(health) == 200 and probe(f"http://{http}").ok, 120)
            load.wait_for(50)
    return {**load.result.summary(), "recovery_s": load.result.recovery_seconds(killed)}


def server_kill(repository: Path) -> dict:
    """Kill tritonserver itself under load: requests failed and seconds until traffic flows again."""
    with supervised_serve(repository) as (process, _, grpc, health):
        with Load(grpc, concurrency=8) as load:
            load.wait_for(50)
            killed = time.monotonic()
            os.kill(children(process.pid)[0], signal.SIGKILL)
            time.sleep(1)
            _wait(lambda: health_status(health) == 200, 180)
            load.wait_for(50)
    return {**load.result.summary(), "recovery_s": load.result.recovery_seconds(killed)}


def corrupt_rollout(repository: Path) -> dict:
    """Roll out a copy of the active version with a truncated model.onnx, under load, then restart the server."""
    with tempfile.TemporaryDirectory() as folder:
        copy = Path(folder) / "repository"
        shutil.copytree(repository, copy, symlinks=True)
        state = read_state(copy)
        active, candidate = state.active, next_version(copy)
        for model in active_build(copy).options.steps:
            shutil.copytree(copy / model / str(active), copy / model / str(candidate))
        state.builds[str(candidate)] = state.builds[str(active)]  # as build-repository records it
        write_state(copy, state)
        onnx = step_folders(copy, candidate)[CLASSIFIER] / ONNX_MODEL_FILENAME
        onnx.write_bytes(onnx.read_bytes()[: onnx.stat().st_size // 2])
        server = TritonServer(copy, ServerConfig.on_free_ports())
        with server:
            readiness, watched = [], threading.Event()
            watcher = threading.Thread(target=_watch, args=(server, readiness, watched), daemon=True)
            with Load(server.grpc_url, concurrency=8) as load:
                load.wait_for(30)
                watcher.start()
                started = time.monotonic()
                try:
                    rollout(copy, candidate, server.http_url, timeout_s=120)
                    refused = False
                except TicketClassifierError:
                    refused = True
                seconds = time.monotonic() - started
                load.wait_for(30)
            watched.set()
            watcher.join(timeout=10)
        with TritonServer(copy, ServerConfig.on_free_ports()) as restarted:
            served_after_restart = probe(f"http://{restarted.http_url}").detail
        quarantined = sorted(read_state(copy).quarantined)
    return {
        **load.result.summary(),
        "refused": refused,
        "rollout_s": round(seconds, 2),
        "not_ready_polls": readiness.count(False),
        "ready_polls": readiness.count(True),
        "quarantined": quarantined,
        "served_after_restart": served_after_restart,
    }


def sidecar_receivers(server: TritonServer, repository: Path) -> dict:
    """Drift monitor scrapes with a slow webhook receiver and with a failing one: scrape time and deliveries."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    results = {}
    for kind, delay_s, status in (("slow (3 s per message)", 3.0, 204), ("failing (HTTP 500)", 0.0, 500)):

        class Receiver(BaseHTTPRequestHandler):
            wait_s, answer = delay_s, status

            def do_POST(self) -> None:  # noqa: N802
                self.rfile.read(int(self.headers["Content-Length"]))
                time.sleep(self.wait_s)
                self.send_response(self.answer)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        receiver = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
        threading.Thread(target=receiver.serve_forever, daemon=True).start()
        config = DriftMonitorConfig(
            triton_url=server.http_url,
            triton_metrics_url=server.metrics_url,
            model_repository=str(repository),
            min_predictions=20,
            count_window=50,
            webhook_url=f"http://127.0.0.1:{receiver.server_port}/hook",
            webhook_backoff_s=0.1,
        )
        monitor = DriftMonitor(config)
        monitor.step()
        with Load(server.grpc_url, concurrency=4) as load:
            load.wait_for(60)
        steps = []
        for _ in range(5):
            started = time.monotonic()
            monitor.step()
            steps.append(time.monotonic() - started)
        monitor.webhook.drain(60)
        receiver.shutdown()
        sample = monitor.registry.get_sample_value
        results[kind] = {
            "max_scrape_s": round(max(steps), 3),
            "delivered": sample("ticket_classifier_drift_webhook_deliveries_total"),
            "given_up": sample("ticket_classifier_drift_webhook_failures_total"),
        }
        monitor.webhook.close()
    return results


def process_tree_rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and its children, in MiB."""
    total = 0
    for member in [pid, *children(pid)]:
        try:
            for line in Path(f"/proc/{member}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return round(total / 1024, 1)


def children(pid: int) -> list[int]:
    """Direct children of ``pid``."""
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    return [int(child) for child in found]


def health_status(port: int, path: str = "/ready") -> int:
    """Status of the supervisor's ``/ready`` (or another ``path``) on loopback; 0 when nothing answers."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _watch(server: TritonServer, answers: list, stop: threading.Event) -> None:
    while not stop.is_set():
        answers.append(server.admin.is_ready())
        time.sleep(0.05)


def _wait(condition, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise TicketClassifierError(f"the server did not recover within {timeout_s:.0f} s")
