"""The fused pipeline (``repository.fuse_steps``) served by a real tritonserver: the same answers as
the three-step ensemble, the same metrics, and rollouts (its refusals of bad requests are
``test_bad_requests.py``'s, run on both layouts)."""

import time
import urllib.request

import pytest

from ticket_classifier.build.layout import active_version, step_folders
from ticket_classifier.build.model_configs import RepositoryOptions
from ticket_classifier.build.repository import build_repository
from ticket_classifier.build.rollout import rollout
from ticket_classifier.clients.client import TicketClassifierClient
from ticket_classifier.errors import TicketClassifierError
from ticket_classifier.health import probe
from ticket_classifier.reliability.bad_requests import KINDS, send
from ticket_classifier.runtime.contract import CLASSIFIER, FUSED_STEPS, PIPELINE, POSTPROCESS, THREE_STEPS
from ticket_classifier.runtime.instance_activity import InstanceActivity
from ticket_classifier.server import ServerConfig, TritonServer
from ticket_classifier.training.demo_data import generate_tickets
from ticket_classifier.triton_admin import base_url

pytestmark = pytest.mark.integration
FUSED = RepositoryOptions(fuse_steps=True, classifier_instances=2)
# Mixed lengths, so that one batch spans both length buckets and the model's maximum length.
TICKETS = [(ticket.subject, ticket.description) for ticket in generate_tickets(30, seed=91)] + [
    ("Printer", "toner " * 20),
    ("VPN", "tunnel drops " * 60),
]


@pytest.fixture
def fused_server(fused_tiny_server):
    """The fused server and its repository."""
    return fused_tiny_server.model_repository, fused_tiny_server


def answers(url: str, protocol: str) -> list:
    """Every ticket's prediction, all in one batch."""
    with TicketClassifierClient(url, protocol=protocol) as client:
        return client.classify_batch(TICKETS)


def test_the_repository_holds_one_step_with_every_file(fused_server):
    repository, _ = fused_server
    assert not any((repository / model).exists() for model in THREE_STEPS)
    folders = step_folders(repository, 1)
    assert set(folders.values()) == {repository / PIPELINE / "1"}
    assert (folders[CLASSIFIER] / "model.onnx").is_file() and (folders[POSTPROCESS] / "labels.json").is_file()


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_fused_answers_equal_the_three_step_answers(fused_server, tiny_server, protocol):
    _, server = fused_server
    fused = answers(server.grpc_url if protocol == "grpc" else server.http_url, protocol)
    three_steps = answers(tiny_server.grpc_url, "grpc")
    assert len(fused) == len(three_steps) == len(TICKETS)
    for index, (one, other) in enumerate(zip(fused, three_steps)):
        assert one.model_version == other.model_version
        assert one.scores == pytest.approx(other.scores, abs=1e-4), index
        if other.top_k[0][1] - other.top_k[1][1] > 1e-3:
            assert (one.category, one.requires_review, one.review_reasons) == (
                other.category,
                other.requires_review,
                other.review_reasons,
            ), index


def test_per_ticket_and_batched_onnx_calls_give_the_same_answers(fused_server, tiny_model, tmp_path):
    """The default runs each ticket at its own length (a lone one on the all-cores session, a batch's on
    the instance's share); ``batched`` pads a batch per length bucket: the same answers either way."""
    _, per_ticket = fused_server
    repository = tmp_path / "repository"
    batched_options = RepositoryOptions(fused_onnx_calls="batched")
    build_repository(tiny_model.checkpoint, tiny_model.onnx.parent, repository, batched_options)
    assert 'string_value: "batched"' in (repository / PIPELINE / "config.pbtxt").read_text()
    with TritonServer(repository, ServerConfig.on_free_ports()) as batched:
        together = [answers(server.grpc_url, "grpc") for server in (per_ticket, batched)]
        with TicketClassifierClient(per_ticket.grpc_url) as one, TicketClassifierClient(batched.grpc_url) as other:
            alone = [(one.classify(*ticket), other.classify(*ticket)) for ticket in TICKETS[-4:]]
    pairs = list(zip(*together)) + alone
    assert len(pairs) == len(TICKETS) + 4
    for index, (first, second) in enumerate(pairs):
        assert first.scores == pytest.approx(second.scores, abs=1e-4), index
        assert first.novelty == pytest.approx(second.novelty, abs=1e-3), index


def test_each_instance_shows_the_others_when_it_is_at_work(fused_server):
    """Per ticket, an instance takes the all-cores session only while its siblings are idle: each holds a
    lock file, in a folder of this server's model version, that nobody holds between requests."""
    repository, server = fused_server
    answers(server.grpc_url, "grpc")
    observer = InstanceActivity(f"{server.process.pid}-{PIPELINE}-1")
    try:
        siblings = [path for path in observer.folder.iterdir() if path != observer.path]
        assert len(siblings) == RepositoryOptions().classifier_instances
        assert not observer.others_busy()
    finally:
        observer.close()
    assert observer.folder.is_dir()  # the instances' files stay while they serve


def test_metrics_count_tickets_and_refusals_but_not_health_probes(fused_server, metric_total):
    _, server = fused_server

    def counts():
        text = urllib.request.urlopen(server.metrics_url, timeout=10).read().decode()
        return (
            metric_total(text, "ticket_classifier_predictions_total"),
            metric_total(text, "ticket_classifier_rejected_requests_total", reason="empty"),
        )

    def settled(expected, before):
        deadline = time.monotonic() + 10  # Triton updates its counters after answering
        while time.monotonic() < deadline:
            now = tuple(after - start for after, start in zip(counts(), before))
            if now == expected:
                return now
            time.sleep(0.2)
        return now

    before = counts()
    assert all(probe(base_url(server.http_url)).ok for _ in range(3))
    assert settled((0, 0), before) == (0, 0)
    with TicketClassifierClient(server.grpc_url) as client:
        client.classify_batch(TICKETS[:4])
    send("grpc", server.grpc_url, KINDS["empty"])
    assert settled((4, 1), before) == (4, 1)


def test_rollout_between_fused_versions_and_a_three_step_build_refused(tiny_model, tmp_path, three_steps):
    repository = tmp_path / "repository"
    build_repository(tiny_model.checkpoint, tiny_model.onnx.parent, repository, FUSED)
    with TritonServer(repository, ServerConfig.on_free_ports()) as server:
        assert build_repository(tiny_model.checkpoint, tiny_model.onnx.parent, repository, FUSED).version == 2
        assert rollout(repository, 2, server.http_url) == {"previous": 1, "active": 2}
        with TicketClassifierClient(server.grpc_url) as client:
            assert client.classify("VPN down", "cannot connect").model_version.startswith("2-")
    assert active_version(repository) == 2
    assert FUSED.steps == FUSED_STEPS
    with pytest.raises(TicketClassifierError, match="holds fused versions; a repository holds one layout"):
        build_repository(tiny_model.checkpoint, tiny_model.onnx.parent, repository, three_steps)
