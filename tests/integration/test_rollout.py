"""Versioned rollout against a real server while a client keeps sending requests."""

import json
import shutil
import threading
import time

import pytest

from ticket_classifier.build.layout import active_version, read_state, versions
from ticket_classifier.build.onnx_export import export_variants
from ticket_classifier.build.parity import onnx_probabilities
from ticket_classifier.build.repository import build_repository
from ticket_classifier.build.rollout import rollout
from ticket_classifier.clients.client import TicketClassifierClient
from ticket_classifier.errors import TicketClassifierError
from ticket_classifier.labels import read_labels
from ticket_classifier.runtime.contract import CLASSIFIER, POSTPROCESS
from ticket_classifier.runtime.text import join_ticket_text
from ticket_classifier.runtime.tokenization import TicketTokenizer
from ticket_classifier.server import ServerConfig, TritonServer

pytestmark = pytest.mark.integration
TICKET = ("VPN down", "cannot connect from home")


class TrafficRecorder(threading.Thread):
    """Sends one ticket after another and records each answer's model version or error."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.versions: list[str] = []
        self.scores: list[dict[str, float]] = []
        self.errors: list[str] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        with TicketClassifierClient(self.url, protocol="grpc") as client:
            while not self.stopping.is_set():
                try:
                    prediction = client.classify(*TICKET)
                    self.versions.append(prediction.model_version)
                    self.scores.append(prediction.scores)
                except TicketClassifierError as exc:
                    self.errors.append(str(exc))

    def wait_for(self, count: int, timeout_s: float = 60.0) -> None:
        """Until ``count`` more answers came; fails (with the errors seen) when they do not come in time."""
        deadline = time.monotonic() + timeout_s
        start = len(self.versions)
        while len(self.versions) - start < count:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"only {len(self.versions) - start} of {count} answers in {timeout_s} s: {self.errors[-3:]}"
                )
            time.sleep(0.05)


@pytest.fixture
def served_repository(tiny_model, tmp_path, three_steps):
    repository = tmp_path / "repository"
    build_repository(tiny_model.checkpoint, tiny_model.onnx.parent, repository, three_steps)
    config = ServerConfig.on_free_ports()
    with TritonServer(repository, config) as server:
        yield repository, server


@pytest.fixture
def other_model(tiny_model, tmp_path):
    """A second, truly different model: the tiny checkpoint with another temperature, exported again."""
    checkpoint = tmp_path / "other" / "checkpoint"
    shutil.copytree(tiny_model.checkpoint, checkpoint)
    (checkpoint / "calibration.json").write_text(json.dumps({"temperature": 4.0}))
    export_variants(checkpoint, tmp_path / "other" / "onnx", precisions=("fp32",), parity_samples=20)
    return checkpoint, tmp_path / "other" / "onnx"


def expected_scores(checkpoint, onnx_dir) -> dict[str, float]:
    """What a version serves for :data:`TICKET`, computed in-process from its checkpoint and ONNX file."""
    tokenizer = TicketTokenizer.from_directory(checkpoint)
    probabilities = onnx_probabilities(onnx_dir / "model.fp32.onnx", tokenizer, [join_ticket_text(TICKET)])[0]
    return dict(zip(read_labels(checkpoint), probabilities.tolist()))


def test_rollout_and_rollback_lose_no_request_and_never_mix_versions(
    tiny_model, other_model, served_repository, three_steps
):
    repository, server = served_repository
    by_version = {
        "1": expected_scores(tiny_model.checkpoint, tiny_model.onnx.parent),
        "2": expected_scores(*other_model),
    }
    assert max(abs(by_version["1"][label] - by_version["2"][label]) for label in by_version["1"]) > 0.01
    traffic = TrafficRecorder(server.grpc_url)
    traffic.start()
    try:
        traffic.wait_for(20)
        built = build_repository(*other_model, repository, three_steps)
        assert built.version == 2 and active_version(repository) == 1
        traffic.wait_for(10)
        assert rollout(repository, 2, server.http_url) == {"previous": 1, "active": 2}
        traffic.wait_for(20)
        assert rollout(repository, 1, server.http_url) == {"previous": 2, "active": 1}
        traffic.wait_for(20)
    finally:
        traffic.stopping.set()
        traffic.join(timeout=30)
    assert traffic.errors == []
    served = [version.split("-")[0] for version in traffic.versions]
    assert served[0] == "1" and "2" in served and served[-1] == "1"
    switches = [i for i in range(1, len(served)) if served[i] != served[i - 1]]
    assert len(switches) == 2, "each rollout switches once, with no back-and-forth"
    for version, scores in zip(served, traffic.scores):  # every answer is wholly one version's
        expected = by_version[version]
        assert max(abs(scores[label] - expected[label]) for label in expected) < 1e-4, version


class ReadinessRecorder(threading.Thread):
    """Polls the server's readiness and records every answer."""

    def __init__(self, server) -> None:
        super().__init__(daemon=True)
        self.server = server
        self.answers: list[bool] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            self.answers.append(self.server.admin.is_ready())
            time.sleep(0.05)


def break_version(repository, version: int, how: str) -> None:
    """Damage a built version: a truncated ONNX file, or a model that compiles but cannot start."""
    if how == "truncated onnx":
        path = repository / CLASSIFIER / str(version) / "model.onnx"
        path.write_bytes(path.read_bytes()[:1000])
    else:
        path = repository / POSTPROCESS / str(version) / "model.py"
        path.write_text(
            path.read_text().replace(
                '"""Read the labels', 'raise RuntimeError("broken on purpose")\n        """Read', 1
            )
        )
        for cached in path.parent.glob("__pycache__/*.pyc"):
            cached.unlink()


@pytest.mark.reliability
@pytest.mark.parametrize("how", ["truncated onnx", "model that fails to start"])
def test_a_broken_version_is_quarantined_and_never_served(tiny_model, served_repository, how, three_steps):
    repository, server = served_repository
    build_repository(tiny_model.checkpoint, tiny_model.onnx.parent, repository, three_steps)
    break_version(repository, 2, how)
    traffic, readiness = TrafficRecorder(server.grpc_url), ReadinessRecorder(server)
    traffic.start()
    readiness.start()
    try:
        traffic.wait_for(10)
        started = time.monotonic()
        with pytest.raises(TicketClassifierError, match="version 2 cannot be served .* version 1 is still served"):
            rollout(repository, 2, server.http_url, timeout_s=60)
        assert time.monotonic() - started < 60, "a broken version must not be waited for"
        traffic.wait_for(10)
    finally:
        traffic.stopping.set()
        readiness.stopping.set()
        traffic.join(timeout=30)
        readiness.join(timeout=30)
    assert traffic.errors == []
    assert {version.split("-")[0] for version in traffic.versions} == {"1"}
    assert all(readiness.answers), "readiness stayed 200 throughout"
    state = read_state(repository)
    assert state.active == 1 and state.served == [1] and "2" in state.quarantined
    assert versions(repository, CLASSIFIER) == [1]
    with pytest.raises(TicketClassifierError, match="version 2 is quarantined"):
        rollout(repository, 2, server.http_url)
    # A restart after the failed rollout serves the last good version.
    server.stop()
    config = ServerConfig.on_free_ports()
    with TritonServer(repository, config) as restarted:
        with TicketClassifierClient(restarted.grpc_url) as client:
            assert client.classify("VPN down", "cannot connect").model_version.startswith("1-")


def test_rollout_to_an_unbuilt_version_changes_nothing(served_repository):
    repository, server = served_repository
    with pytest.raises(TicketClassifierError, match="version 5 is not in"):
        rollout(repository, 5, server.http_url)
    assert active_version(repository) == 1
