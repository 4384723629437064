"""A distilled student goes through the same export, gates and repository as its teacher and is served
by the real tritonserver with the same outputs contract (issue 17)."""

import numpy as np
import pytest

from ticket_classifier.build.layout import onnx_filename
from ticket_classifier.build.model_configs import RepositoryOptions
from ticket_classifier.build.onnx_export import export_variants
from ticket_classifier.build.repository import build_repository
from ticket_classifier.cli import main
from ticket_classifier.clients.client import TicketClassifierClient
from ticket_classifier.runtime.text import join_ticket_text
from ticket_classifier.server import ServerConfig, TritonServer
from ticket_classifier.training.checkpoint import load_checkpoint, read_split
from ticket_classifier.training.inference import predict_logits, softmax

pytestmark = pytest.mark.integration
STUDENT_PER_ARCHITECTURE = {"bert": "transformer-1", "distilbert": "cnn"}  # each kind served once


def test_a_student_exports_passes_its_gates_and_serves_the_same_contract(tiny_model, tmp_path):
    kind = STUDENT_PER_ARCHITECTURE[tiny_model.architecture]
    student_dir = tmp_path / "student"
    code = main(["distill", "--teacher", str(tiny_model.checkpoint), "--output-dir", str(student_dir),
                 "--student", kind, "--epochs", "2"])  # fmt: skip
    assert code == 0
    report = export_variants(student_dir, tmp_path / "onnx", precisions=("fp32", "int8"))
    assert all(variant["passed"] for variant in report["variants"]), report["variants"]
    built = build_repository(
        student_dir, tmp_path / "onnx", tmp_path / "repository", RepositoryOptions(precision="fp32")
    )
    assert (tmp_path / "onnx" / onnx_filename("int8")).is_file()  # INT8 passed its gate too (served: FP32, below)
    card = built.model_card.read_text()
    origin = "teacher layers [0]" if kind == "transformer-1" else "the teacher's word embeddings"
    assert "| distilled student |" in card and f"Distilled student `{kind}`: {origin}" in card

    texts, _ = read_split(student_dir, "test")
    tickets = [("", text) for text in texts[:24]]
    student = load_checkpoint(student_dir)
    expected = softmax(predict_logits(student.model, student.tokenizer, [join_ticket_text(t) for t in tickets]),
                       student.temperature)  # fmt: skip
    with TritonServer(built.path, ServerConfig.on_free_ports()) as server:
        with (
            TicketClassifierClient(server.grpc_url) as grpc,
            TicketClassifierClient(server.http_url, protocol="http") as http,
        ):
            answers = [grpc.classify_batch(tickets), http.classify_batch(tickets)]
    for predictions in answers:
        assert len(predictions) == len(tickets)
        for prediction, probabilities in zip(predictions, expected):
            shape = prediction.to_dict()
            assert set(shape) >= {"category", "confidence", "top_3_predictions", "requires_review", "review_reasons",
                                  "model_version", "novelty"}  # fmt: skip
            assert len(shape["top_3_predictions"]) == 3 and shape["model_version"]
            assert prediction.confidence == pytest.approx(float(np.max(probabilities)), abs=2e-3)
