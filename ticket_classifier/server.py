"""Start and stop the real Triton Inference Server that ships in the ``nvidia-pytriton`` wheel.

The wheel carries a complete ``tritonserver`` (2.51, Python backend and ensembles) but no
backend folder laid out for the running interpreter. :class:`TritonServer` lays one out in a
temporary folder (links to the wheel's Python backend and the stub built for this Python),
puts this environment's interpreter first on ``PATH`` so that the stub finds our packages,
starts the server, waits until every model is ready (or says which one failed and why) and
stops it with SIGINT, which lets Triton release its shared-memory regions.

Safe by default: it listens on loopback unless told otherwise, and beyond loopback it refuses
to start without an admin key, which then guards model control (see
:mod:`ticket_classifier.admin_key`). The server dies with the process that started it (Linux
parent-death signal), so a killed launcher leaves no orphan holding the ports, and stale
shared-memory regions of killed servers are removed before each start.
"""

import contextlib
import ctypes
import dataclasses
import datetime
import importlib.util
import ipaddress
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from ticket_classifier.admin_key import read_admin_key, require_key_beyond_loopback, restricted_api_arguments
from ticket_classifier.errors import TicketClassifierError
from ticket_classifier.shared_memory import remove_stale_shm_regions, shm_regions
from ticket_classifier.triton_admin import TritonAdmin

log = logging.getLogger(__name__)
_LOG_TAIL_LINES = 15
_PR_SET_PDEATHSIG = 1
_PORT_NAMES = ("http_port", "grpc_port", "metrics_port", "health_port")


@dataclass
class ServerConfig:
    """How the server listens and behaves; the ``server`` section of ``configs/production.yaml``."""

    http_port: int = 8000
    grpc_port: int = 8001
    metrics_port: int = 8002
    health_port: int = 8004
    bind_address: str = "127.0.0.1"
    http_bind_address: str = "127.0.0.1"
    admin_key_file: str | None = None
    model_control_mode: str = "explicit"
    startup_timeout_s: float = 180.0
    shutdown_timeout_s: float = 60.0
    python_shm_default_byte_size: int = 4 * 1024 * 1024
    log_verbose: int = 0
    # Triton's log, appended to and kept after the server stops (relative to the current folder);
    # None: a file in the server's temporary work folder, removed with it.
    log_file: str | None = "tritonserver.log"
    grpc_tls_certificate: str | None = None
    grpc_tls_private_key: str | None = None
    grpc_tls_client_ca: str | None = None
    probe_interval_s: float = 5.0
    probe_timeout_s: float = 10.0
    probe_failures_before_restart: int = 3
    restart_backoff_max_s: float = 30.0

    def __post_init__(self) -> None:
        if min(self.probe_interval_s, self.probe_timeout_s, self.restart_backoff_max_s) <= 0:
            raise ValueError("server.probe_interval_s, probe_timeout_s and restart_backoff_max_s must be positive")
        if self.probe_failures_before_restart < 1:
            raise ValueError("server.probe_failures_before_restart must be at least 1")
        for name in _PORT_NAMES:
            port = getattr(self, name)
            if not 0 <= port <= 65535:
                raise ValueError(f"server.{name} must be between 0 and 65535, got {port}")
        chosen = [getattr(self, name) for name in _PORT_NAMES if getattr(self, name)]
        if len(set(chosen)) < len(chosen):
            ports = ", ".join(f"{name} {getattr(self, name)}" for name in _PORT_NAMES)
            raise ValueError(f"server ports must differ from each other (0: any free port), got {ports}")
        if (self.grpc_tls_certificate is None) != (self.grpc_tls_private_key is None):
            raise ValueError("server.grpc_tls_certificate and server.grpc_tls_private_key go together")
        if self.model_control_mode not in ("none", "explicit", "poll"):
            raise ValueError(
                f"server.model_control_mode must be none, explicit or poll, got {self.model_control_mode!r}"
            )

    @classmethod
    def on_free_ports(cls, **overrides) -> "ServerConfig":
        """A loopback server on ports the system picks, its log in its temporary folder (for tests, staging
        and benchmarks)."""
        return cls(**{"http_port": 0, "grpc_port": 0, "metrics_port": 0, "log_file": None, **overrides})


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

    @property
    def libraries(self) -> Path:
        """The wheel's bundled shared libraries (``nvidia_pytriton.libs`` beside the package)."""
        return self.server_binary.parents[3] / "nvidia_pytriton.libs"


def port_is_free(port: int, host: str = "0.0.0.0") -> bool:
    """True when a TCP server could bind ``host:port`` now (a port in TIME_WAIT counts as free, as for Triton)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def free_ports(count: int) -> list[int]:
    """``count`` distinct TCP ports that are free at the time of the call (for tests and ``port: 0``).

    Every probe socket stays bound until all are picked, so the system cannot hand out one port twice."""
    with contextlib.ExitStack() as probes:
        ports = []
        for _ in range(count):
            probe = probes.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            probe.bind(("127.0.0.1", 0))
            ports.append(probe.getsockname()[1])
        return ports


def free_port() -> int:
    """A TCP port that is free at the time of the call."""
    return free_ports(1)[0]


def connect_host(bind_address: str) -> str:
    """The host to connect to for a server bound to ``bind_address`` (loopback for a wildcard address)."""
    try:
        address = ipaddress.ip_address(bind_address)
    except ValueError:
        return bind_address
    if address.is_unspecified:
        return "127.0.0.1" if address.version == 4 else "[::1]"
    return f"[{bind_address}]" if address.version == 6 else bind_address


class TritonServer:
    """One ``tritonserver`` process serving a model repository; use it as a context manager."""

    def __init__(self, model_repository: "str | os.PathLike[str]", config: ServerConfig | None = None) -> None:
        self.model_repository = Path(model_repository).resolve()
        self.config = dataclasses.replace(config or ServerConfig())
        if self.config.log_file:  # fixed now: a later change of the current folder must not move the log
            self.config = dataclasses.replace(self.config, log_file=str(Path(self.config.log_file).resolve()))
        self.admin_key = read_admin_key(self.config.admin_key_file)
        for address in (self.config.bind_address, self.config.http_bind_address):
            require_key_beyond_loopback(address, self.admin_key)
        self.process: subprocess.Popen | None = None
        self._workdir: Path | None = None
        self._shm_before: set = set()

    @property
    def http_url(self) -> str:
        """``host:port`` of the HTTP endpoint."""
        return f"{connect_host(self.config.http_bind_address)}:{self.config.http_port}"

    @property
    def grpc_url(self) -> str:
        """``host:port`` of the gRPC endpoint."""
        return f"{connect_host(self.config.bind_address)}:{self.config.grpc_port}"

    @property
    def metrics_url(self) -> str:
        """URL of the Prometheus metrics endpoint."""
        return f"http://{connect_host(self.config.bind_address)}:{self.config.metrics_port}/metrics"

    def listening(self) -> str:
        """Where the server listens, for people (the bound address, not the one we connect to)."""
        config = self.config
        host, http_host = (
            f"[{address}]" if ":" in address else address for address in (config.bind_address, config.http_bind_address)
        )
        control = "model control needs the admin key" if self.admin_key else "model control open (loopback only)"
        return (
            f"HTTP {http_host}:{config.http_port}, gRPC {host}:{config.grpc_port}, "
            f"metrics {host}:{config.metrics_port}; {control}"
        )

    @property
    def log_path(self) -> Path | None:
        """The server's log file: ``config.log_file``, or one inside the temporary work folder while it runs."""
        if self.config.log_file:
            return Path(self.config.log_file)
        return self._workdir / "tritonserver.log" if self._workdir else None

    def __enter__(self) -> "TritonServer":
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self, *, wait: bool = True) -> None:
        """Start the server; with ``wait``, block until every model is ready.

        Start it from the thread that keeps it: it is killed when that thread's process ends.
        """
        if not (self.model_repository / "").is_dir():
            raise TicketClassifierError(f"model repository not found: {self.model_repository}")
        installation = TritonInstallation.locate()
        self._assign_and_check_ports()
        self._workdir = Path(tempfile.mkdtemp(prefix="ticket-classifier-triton-"))
        try:
            _link_python_backend(installation, self._workdir / "backends" / "python")
            self._launch(installation)
            if wait:
                self.wait_until_ready()
        except BaseException:
            self.stop()
            raise

    def restart(self) -> None:
        """Start the server again on the same ports after it exited (or kill it first if it still runs)."""
        process, self.process = self.process, None
        if process is not None:
            _kill_group(process)
        self._launch(TritonInstallation.locate())

    def _launch(self, installation: "TritonInstallation") -> None:
        """Start the ``tritonserver`` process, appending to the log; stale shared memory is removed first."""
        for name in remove_stale_shm_regions():
            log.info("removed stale shared-memory region /dev/shm/%s (left by a killed server)", name)
        self._shm_before = shm_regions()
        try:
            log_file = open(self.log_path, "ab")
        except OSError as exc:
            raise TicketClassifierError(f"cannot write Triton's log to {self.log_path}: {exc.strerror}") from None
        started = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        log_file.write(f"=== tritonserver started {started} (ticket-classifier) ===\n".encode())
        log_file.flush()
        try:
            self.process = subprocess.Popen(
                self._command(installation, self._workdir / "backends"),
                stdout=log_file,
                stderr=subprocess.STDOUT,
                env=self._environment(),
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        finally:
            log_file.close()

    def _assign_and_check_ports(self) -> None:
        """Fail clearly on a port already in use; pick distinct free ports for those set to 0."""
        triton_ports = ("http_port", "grpc_port", "metrics_port")
        for name in triton_ports:
            port = getattr(self.config, name)
            address = self.config.http_bind_address if name == "http_port" else self.config.bind_address
            if port and not port_is_free(port, address):
                raise TicketClassifierError(
                    f"port {port} ({name.replace('_', ' ')}) is already in use: "
                    "stop what holds it or choose another port"
                )
        unassigned = [name for name in triton_ports if getattr(self.config, name) == 0]
        configured = {getattr(self.config, name) for name in _PORT_NAMES}
        spare = [port for port in free_ports(len(unassigned) + len(configured)) if port not in configured]
        for name, port in zip(unassigned, spare):
            setattr(self.config, name, port)

    def _command(self, installation: TritonInstallation, backends: Path) -> list[str]:
        """The ``tritonserver`` command line."""
        config = self.config
        command = [
            str(installation.server_binary),
            f"--model-repository={self.model_repository}",
            f"--backend-directory={backends}",
            f"--cache-directory={installation.caches}",
            f"--http-address={config.http_bind_address}",
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
        if self.admin_key:
            command += restricted_api_arguments(self.admin_key)
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
            # Triton opens its metrics port after the HTTP and gRPC ones: "settled" waits for it too
            if admin.is_live() and self._metrics_listening():
                if admin.is_ready():
                    return {}
                failed = admin.failed_models()
                if failed:
                    return failed
            time.sleep(0.25)
        raise TicketClassifierError(
            f"tritonserver was not ready after {timeout_s:.0f} s; last log lines:\n{self.log_tail()}"
        )

    def _metrics_listening(self) -> bool:
        """True when the metrics port accepts a connection."""
        host, port = urllib.parse.urlsplit(self.metrics_url).hostname, self.config.metrics_port
        try:
            with socket.create_connection((host, port), timeout=1.0):
                return True
        except OSError:
            return False

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
        """Health checks and model control of this server (with its admin key)."""
        return TritonAdmin(self.http_url, admin_key=self.admin_key)

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


def _die_with_parent() -> None:
    """In the child before exec: ask Linux to SIGKILL it when the thread that started it ends."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the launcher's own clean-up still stops the server
        pass


def _kill_group(process: subprocess.Popen) -> None:
    """Kill the server's whole process group (stub processes included)."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    process.wait()
