"""The real tritonserver serves exactly what in-process onnxruntime computes (no skew)."""

import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from ticket_classifier.clients.client import TicketClassifierClient
from ticket_classifier.labels import read_labels
from ticket_classifier.runtime.text import join_ticket_text
from ticket_classifier.runtime.tokenization import TicketTokenizer
from ticket_classifier.server import ServerConfig, TritonServer
from ticket_classifier.shared_memory import shm_regions
from ticket_classifier.training.demo_data import generate_tickets

pytestmark = pytest.mark.integration

TOLERANCE = 1e-5


def reference_probabilities(tiny_model, tickets):
    """Probabilities of ``tickets`` from the checkpoint's tokenizer and the ONNX file, in process."""
    tokenizer = TicketTokenizer.from_directory(tiny_model.checkpoint)
    session = ort.InferenceSession(str(tiny_model.onnx), providers=["CPUExecutionProvider"])
    rows = [session.run(["probabilities"], tokenizer.encode([join_ticket_text(ticket)]))[0][0] for ticket in tickets]
    return np.stack(rows)


def served_matrix(predictions, labels):
    """Served probabilities reordered into label order."""
    return np.array([[prediction.scores[label] for label in labels] for prediction in predictions])


@pytest.fixture(scope="module")
def tickets():
    """Unseen demo tickets (another seed than the training data), with mixed lengths."""
    return [(ticket.subject, ticket.description) for ticket in generate_tickets(40, seed=99)]


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_served_predictions_equal_in_process_onnxruntime(tiny_model, tiny_server, tickets, protocol):
    labels = read_labels(tiny_model.checkpoint)
    expected = reference_probabilities(tiny_model, tickets)
    url = tiny_server.grpc_url if protocol == "grpc" else tiny_server.http_url
    with TicketClassifierClient(url, protocol=protocol) as client:
        batch = client.classify_batch(tickets)
    served = served_matrix(batch, labels)
    assert np.abs(served - expected).max() < TOLERANCE
    assert [prediction.category for prediction in batch] == [labels[i] for i in expected.argmax(1)]
    assert {prediction.model_version for prediction in batch} == {batch[0].model_version}
    assert batch[0].model_version.startswith("1-fp32-")


def test_concurrent_single_requests_are_batched_and_still_exact(tiny_model, tiny_server, tickets):
    labels = read_labels(tiny_model.checkpoint)
    expected = reference_probabilities(tiny_model, tickets)

    def classify(ticket):
        with TicketClassifierClient(tiny_server.grpc_url, protocol="grpc") as client:
            return client.classify(*ticket)

    with ThreadPoolExecutor(max_workers=16) as pool:
        predictions = list(pool.map(classify, tickets))
    assert np.abs(served_matrix(predictions, labels) - expected).max() < TOLERANCE


def test_prediction_has_the_documented_shape(tiny_server):
    with TicketClassifierClient(tiny_server.http_url, protocol="http") as client:
        result = client.classify("VPN down", "Cannot connect to the VPN from home").to_dict()
    assert set(result) == {
        "category",
        "confidence",
        "top_3_predictions",
        "requires_review",
        "review_reasons",
        "review_policy",
        "model_version",
        "novelty",
    }
    assert result["review_policy"] == "server"
    assert result["novelty"] >= 0.0
    assert len(result["top_3_predictions"]) == 3
    assert result["top_3_predictions"][0]["category"] == result["category"]
    assert 0.0 < result["confidence"] <= 1.0


def _processes_mentioning(path: Path):
    """PIDs of live processes whose command line mentions ``path``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if str(path).encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def test_shutdown_leaves_no_process_and_no_shared_memory(tiny_model, tmp_path):
    repository = Path(shutil.copytree(tiny_model.repository, tmp_path / "repository"))  # a path no other server uses
    before = shm_regions()
    config = ServerConfig.on_free_ports()
    server = TritonServer(repository, config)
    server.start()
    try:
        stubs = [pid for pid in _processes_mentioning(repository) if pid != server.process.pid]
        assert stubs, "expected Python-backend stub processes while serving"
        assert shm_regions() - before, "expected the Python backend's shared memory while serving"
    finally:
        server.stop()
    assert _processes_mentioning(repository) == []
    assert shm_regions() - before == set()
