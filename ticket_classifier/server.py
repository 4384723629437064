"""Start and stop the real Triton Inference Server that ships in the ``nvidia-pytriton`` wheel.

The wheel carries a complete ``tritonserver`` (2.51, Python backend and ensembles) but no
backend folder laid out for the running interpreter. :class:`TritonServer` lays one out in a
temporary folder (links to the wheel's Python backend and the stub built for this Python),
puts this environment's interpreter first on ``PATH`` so that the stub finds our packages,
starts the server, waits until every model is ready (or says which one failed and why) and
stops it with SIGINT, which lets Triton release its shared-memory regions.
"""

import dataclasses
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from ticket_classifier.errors import TicketClassifierError
from ticket_classifier.triton_admin import TritonAdmin

SHM_REGION_PREFIX = "triton_python_backend_shm_region_"
_LOG_TAIL_LINES = 15


@dataclass
class ServerConfig:
    """How the server listens and behaves; the ``server`` section of ``configs/production.yaml``."""

    http_port: int = 8000
    grpc_port: int = 8001
    metrics_port: int = 8002
    bind_address: str = "0.0.0.0"
    model_control_mode: str = "explicit"
    startup_timeout_s: float = 180.0
    shutdown_timeout_s: float = 60.0
    python_shm_default_byte_size: int = 4 * 1024 * 1024
    log_verbose: int = 0
    grpc_tls_certificate: str | None = None
    grpc_tls_private_key: str | None = None
    grpc_tls_client_ca: str | None = None

    def __post_init__(self) -> None:
        for name in ("http_port", "grpc_port", "metrics_port"):
            port = getattr(self, name)
            if not 0 <= port <= 65535:
                raise ValueError(f"server.{name} must be between 0 and 65535, got {port}")
        if (self.grpc_tls_certificate is None) != (self.grpc_tls_private_key is None):
            raise ValueError("server.grpc_tls_certificate and server.grpc_tls_private_key go together")
        if self.model_control_mode not in ("none", "explicit", "poll"):
            raise ValueError(
                f"server.model_control_mode must be none, explicit or poll, got {self.model_control_mode!r}"
            )


@dataclass(frozen=True)
class TritonInstallation:
    """Where the pip wheel keeps the server binary, the Python backend and the stubs."""

    server_binary: Path
    python_backend: Path
    stub: Path
    caches: Path

    @classmethod
    def locate(cls) -> "TritonInstallation":
        """Find the server inside the installed ``nvidia-pytriton`` wheel."""
        spec = importlib.util.find_spec("pytriton")
        if spec is None or not spec.submodule_search_locations:
            raise TicketClassifierError(
                "tritonserver not found: install the serving extra, pip install 'ticket-classifier[serve]'"
            )
        root = Path(list(spec.submodule_search_locations)[0]) / "tritonserver"
        python_version = f"{sys.version_info.major}.{sys.version_info.minor}"
        installation = cls(
            server_binary=root / "bin" / "tritonserver",
            python_backend=root / "backends" / "python",
            stub=root / "python_backend_stubs" / python_version / "triton_python_backend_stub",
            caches=root / "caches",
        )
        for path in (installation.server_binary, installation.python_backend, installation.stub):
            if not path.exists():
                raise TicketClassifierError(f"incomplete tritonserver installation: {path} is missing")
        return installation


def port_is_free(port: int, host: str = "0.0.0.0") -> bool:
    """True when a TCP server could bind ``host:port`` now (a port in TIME_WAIT counts as free, as for Triton)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A TCP port that is free at the time of the call (for tests and ``port: 0``)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def shm_regions() -> set:
    """Names of the Python backend's shared-memory regions now in ``/dev/shm``."""
    shm = Path("/dev/shm")
    return {path.name for path in shm.glob(SHM_REGION_PREFIX + "*")} if shm.is_dir() else set()


class TritonServer:
    """One ``tritonserver`` process serving a model repository; use it as a context manager."""

    def __init__(self, model_repository: "str | os.PathLike[str]", config: ServerConfig | None = None) -> None:
        self.model_repository = Path(model_repository).resolve()
        self.config = dataclasses.replace(config or ServerConfig())
        self.process: subprocess.Popen | None = None
        self._workdir: Path | None = None
        self._shm_before: set = set()

    @property
    def http_url(self) -> str:
        """``host:port`` of the HTTP endpoint."""
        return f"127.0.0.1:{self.config.http_port}"

    @property
    def grpc_url(self) -> str:
        """``host:port`` of the gRPC endpoint."""
        return f"127.0.0.1:{self.config.grpc_port}"

    @property
    def metrics_url(self) -> str:
        """URL of the Prometheus metrics endpoint."""
        return f"http://127.0.0.1:{self.config.metrics_port}/metrics"

    @property
    def log_path(self) -> Path | None:
        """The server's log file (inside the temporary work folder) while it runs."""
        return self._workdir / "tritonserver.log" if self._workdir else None

    def __enter__(self) -> "TritonServer":
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self, *, wait: bool = True) -> None:
        """Start the server; with ``wait``, block until every model is ready."""
        if not (self.model_repository / "").is_dir():
            raise TicketClassifierError(f"model repository not found: {self.model_repository}")
        installation = TritonInstallation.locate()
        self._assign_and_check_ports()
        self._workdir = Path(tempfile.mkdtemp(prefix="ticket-classifier-triton-"))
        backends = self._workdir / "backends"
        _link_python_backend(installation, backends / "python")
        self._shm_before = shm_regions()
        log = open(self.log_path, "wb")
        try:
            self.process = subprocess.Popen(
                self._command(installation, backends),
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self._environment(),
                start_new_session=True,
            )
        finally:
            log.close()
        if wait:
            try:
                self.wait_until_ready()
            except BaseException:
                self.stop()
                raise

    def _assign_and_check_ports(self) -> None:
        """Pick free ports for those set to 0 and fail clearly on a port already in use."""
        for name in ("http_port", "grpc_port", "metrics_port"):
            port = getattr(self.config, name)
            if port == 0:
                setattr(self.config, name, free_port())
            elif not port_is_free(port, self.config.bind_address):
                raise TicketClassifierError(
                    f"port {port} ({name.replace('_', ' ')}) is already in use: "
                    "stop what holds it or choose another port"
                )

    def _command(self, installation: TritonInstallation, backends: Path) -> list[str]:
        """The ``tritonserver`` command line."""
        config = self.config
        command = [
            str(installation.server_binary),
            f"--model-repository={self.model_repository}",
            f"--backend-directory={backends}",
            f"--cache-directory={installation.caches}",
            f"--http-address={config.bind_address}",
            f"--grpc-address={config.bind_address}",
            f"--metrics-address={config.bind_address}",
            f"--http-port={config.http_port}",
            f"--grpc-port={config.grpc_port}",
            f"--metrics-port={config.metrics_port}",
            "--allow-gpu-metrics=false",
            "--allow-cpu-metrics=true",
            "--pinned-memory-pool-byte-size=0",
            "--strict-readiness=true",
            "--exit-on-error=false",
            "--metrics-config=summary_latencies=true",
            f"--backend-config=python,shm-default-byte-size={config.python_shm_default_byte_size}",
            f"--model-control-mode={config.model_control_mode}",
            f"--log-verbose={config.log_verbose}",
        ]
        if config.model_control_mode == "explicit":
            command.append("--load-model=*")
        if config.grpc_tls_certificate:
            command += [
                "--grpc-use-ssl=true",
                f"--grpc-server-cert={config.grpc_tls_certificate}",
                f"--grpc-server-key={config.grpc_tls_private_key}",
            ]
            if config.grpc_tls_client_ca:
                command += ["--grpc-use-ssl-mutual=true", f"--grpc-root-cert={config.grpc_tls_client_ca}"]
        return command

    @staticmethod
    def _environment() -> dict[str, str]:
        """This interpreter first on PATH (the stub finds Python there) and its libpython on the library path."""
        env = dict(os.environ)
        env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
        libdir = sysconfig.get_config_var("LIBDIR")
        if libdir:
            env["LD_LIBRARY_PATH"] = os.pathsep.join(filter(None, [libdir, env.get("LD_LIBRARY_PATH")]))
        env.setdefault("PYTHONUNBUFFERED", "1")
        return env

    def wait_until_settled(self, timeout_s: float | None = None) -> dict[str, str]:
        """Block until the server is live and every model is ready or has failed; returns the failures."""
        timeout_s = timeout_s or self.config.startup_timeout_s
        deadline = time.monotonic() + timeout_s
        admin = self.admin
        while time.monotonic() < deadline:
            self._fail_if_exited()
            if admin.is_live():
                if admin.is_ready():
                    return {}
                failed = admin.failed_models()
                if failed:
                    return failed
            time.sleep(0.25)
        raise TicketClassifierError(
            f"tritonserver was not ready after {timeout_s:.0f} s; last log lines:\n{self.log_tail()}"
        )

    def wait_until_ready(self, timeout_s: float | None = None) -> None:
        """Block until the server and every model are ready; fail naming each model that did not load."""
        failed = self.wait_until_settled(timeout_s)
        if failed:
            raise TicketClassifierError(describe_failures(failed))

    def _fail_if_exited(self) -> None:
        """Raise with the log tail when the server process has ended."""
        if self.process is not None and self.process.poll() is not None:
            raise TicketClassifierError(
                f"tritonserver exited with code {self.process.returncode}; last log lines:\n{self.log_tail()}"
            )

    @property
    def admin(self) -> TritonAdmin:
        """Health checks and model control of this server."""
        return TritonAdmin(self.http_url)

    def log_tail(self, lines: int = _LOG_TAIL_LINES) -> str:
        """The last lines of the server log."""
        if self.log_path is None or not self.log_path.exists():
            return "(no log)"
        text = self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def stop(self) -> None:
        """Stop the server with SIGINT (clean shutdown); kill it only if it does not stop in time."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=self.config.shutdown_timeout_s)
            except subprocess.TimeoutExpired:
                _kill_group(process)
                self._remove_leaked_shm_regions()
        elif process is not None:
            _kill_group(process)
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    def _remove_leaked_shm_regions(self) -> None:
        """After a forced kill, remove the shared-memory regions that appeared while we ran."""
        for name in shm_regions() - self._shm_before:
            Path("/dev/shm", name).unlink(missing_ok=True)


def describe_failures(failed: dict[str, str]) -> str:
    """One line naming every model that failed to load, with Triton's reason."""
    return "; ".join(f"model '{name}' failed to load: {reason.splitlines()[0]}" for name, reason in failed.items())


def _link_python_backend(installation: TritonInstallation, target: Path) -> None:
    """Lay out ``backends/python`` with links to the wheel's backend and the stub for this Python."""
    target.mkdir(parents=True)
    for source in installation.python_backend.iterdir():
        if source.is_file():
            (target / source.name).symlink_to(source)
    (target / installation.stub.name).symlink_to(installation.stub)


def _kill_group(process: subprocess.Popen) -> None:
    """Kill the server's whole process group (stub processes included)."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    process.wait()


def serve_forever(model_repository: "str | os.PathLike[str]", config: ServerConfig | None = None) -> None:
    """Run the server in the foreground until Ctrl-C or SIGTERM, then stop it cleanly.

    A model that fails to load does not stop the server: it keeps answering liveness (not
    readiness), and the failure is printed with Triton's reason.
    """
    server = TritonServer(model_repository, config)
    stop_requested = []

    def request_stop(signum: int, frame: object) -> None:
        stop_requested.append(signum)

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        server.start(wait=False)
        failed = server.wait_until_settled()
        state = "ready" if not failed else "DEGRADED (live, not ready)"
        print(
            f"tritonserver {state}: HTTP {server.http_url}, gRPC {server.grpc_url}, metrics {server.metrics_url}\n"
            f"models from {server.model_repository}; Ctrl-C stops it",
            flush=True,
        )
        if failed:
            print(f"error: {describe_failures(failed)}", file=sys.stderr, flush=True)
        while not stop_requested:
            server._fail_if_exited()
            time.sleep(0.5)
        print("stopping tritonserver ...", flush=True)
    finally:
        server.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
