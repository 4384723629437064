"""Versioned rollout against a real server while a client keeps sending requests."""

import threading
import time

import pytest

from ticket_classifier.build.layout import active_version
from ticket_classifier.build.repository import build_repository
from ticket_classifier.build.rollout import rollout
from ticket_classifier.clients.client import TicketClassifierClient
from ticket_classifier.errors import TicketClassifierError
from ticket_classifier.server import ServerConfig, TritonServer

pytestmark = pytest.mark.integration


class TrafficRecorder(threading.Thread):
    """Sends one ticket after another and records each answer's model version or error."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.versions: list[str] = []
        self.errors: list[str] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        with TicketClassifierClient(self.url, protocol="grpc") as client:
            while not self.stopping.is_set():
                try:
                    self.versions.append(client.classify("VPN down", "cannot connect from home").model_version)
                except TicketClassifierError as exc:
                    self.errors.append(str(exc))

    def wait_for(self, count: int, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        start = len(self.versions)
        while len(self.versions) - start < count and time.monotonic() < deadline:
            time.sleep(0.05)


@pytest.fixture
def served_repository(tiny_model, tmp_path):
    repository = tmp_path / "repository"
    build_repository(tiny_model.checkpoint, tiny_model.onnx.parent, repository)
    config = ServerConfig(http_port=0, grpc_port=0, metrics_port=0, bind_address="127.0.0.1")
    with TritonServer(repository, config) as server:
        yield repository, server


def test_rollout_and_rollback_lose_no_request(tiny_model, served_repository):
    repository, server = served_repository
    traffic = TrafficRecorder(server.grpc_url)
    traffic.start()
    try:
        traffic.wait_for(20)
        built = build_repository(tiny_model.checkpoint, tiny_model.onnx.parent, repository)
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


def test_rollout_to_an_unbuilt_version_changes_nothing(served_repository):
    repository, server = served_repository
    with pytest.raises(TicketClassifierError, match="version 5 of ticket_classifier_tokenizer is not in"):
        rollout(repository, 5, server.http_url)
    assert active_version(repository) == 1
