"""The novelty score through the real tritonserver: equal to the in-process detector, flagged as
``unknown_category`` above the version's threshold, and a documented fallback for old checkpoints.
(That foreign tickets score high needs a real encoder: ``tests/training/test_novelty.py``.)"""

import json
import shutil

import numpy as np
import pytest

from ticket_classifier.build.layout import step_folders
from ticket_classifier.build.model_configs import RepositoryOptions
from ticket_classifier.build.repository import build_repository
from ticket_classifier.clients.client import TicketClassifierClient
from ticket_classifier.runtime.contract import POSTPROCESS, REVIEW_POLICY_FILENAME
from ticket_classifier.runtime.text import join_ticket_text
from ticket_classifier.server import ServerConfig, TritonServer
from ticket_classifier.training.checkpoint import METRICS_FILENAME, load_checkpoint, read_split
from ticket_classifier.training.novelty import DETECTOR_FILENAME, features_and_logits, load_detector

pytestmark = pytest.mark.integration
FOREIGN = [
    ("zqxj vbnm 7731", "qwerty asdf zxcv 0000 1111 !!!! ????"),
    ("Lorem ipsum dolor", "sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt"),
    ("", "€€€ ¥¥¥ ### @@@ %%% ^^^ &&& *** ((( )))"),
]


def test_the_served_novelty_equals_the_in_process_detector_on_both_layouts(either_layout_server, tiny_model):
    texts, _ = read_split(tiny_model.checkpoint, "test")
    tickets = [("", text) for text in texts[:40]]
    checkpoint = load_checkpoint(tiny_model.checkpoint)
    detector = load_detector(tiny_model.checkpoint)
    joined = [join_ticket_text(ticket) for ticket in tickets]
    expected = detector.score(features_and_logits(checkpoint.model, checkpoint.tokenizer, joined)[0])
    with TicketClassifierClient(either_layout_server.grpc_url) as client:
        predictions = client.classify_batch(tickets)
    served = np.array([prediction.novelty for prediction in predictions])
    np.testing.assert_allclose(served, expected, rtol=2e-3, atol=1e-3 * float(np.median(expected)))
    threshold = json.loads((tiny_model.repository / POSTPROCESS / "1" / REVIEW_POLICY_FILENAME).read_text())[
        "novelty_threshold"
    ]
    metrics = json.loads((tiny_model.checkpoint / METRICS_FILENAME).read_text())
    assert metrics["novelty"]["threshold"] == threshold, "training's reports quote another threshold than served"
    for prediction in predictions:
        flagged = any(reason.startswith("unknown category") for reason in prediction.review_reasons)
        assert flagged == (prediction.novelty > threshold)
        assert prediction.to_dict()["novelty"] == round(prediction.novelty, 4)


def test_a_checkpoint_without_a_detector_serves_novelty_zero_and_never_flags_it(tiny_model, tmp_path, caplog):
    checkpoint = tmp_path / "old-checkpoint"
    shutil.copytree(tiny_model.checkpoint, checkpoint)
    (checkpoint / DETECTOR_FILENAME).unlink()
    from ticket_classifier.build.onnx_export import export_variants

    export_variants(checkpoint, tmp_path / "onnx", precisions=("fp32",))
    build_repository(checkpoint, tmp_path / "onnx", tmp_path / "repository", RepositoryOptions())
    assert "no novelty detector" in caplog.text
    policy = json.loads((step_folders(tmp_path / "repository", 1)[POSTPROCESS] / REVIEW_POLICY_FILENAME).read_text())
    assert policy["novelty_threshold"] is None
    with TritonServer(tmp_path / "repository", ServerConfig.on_free_ports()) as server:
        with TicketClassifierClient(server.grpc_url) as client:
            predictions = client.classify_batch(FOREIGN)
    assert all(prediction.novelty == 0.0 for prediction in predictions)
    assert not any("unknown category" in "; ".join(prediction.review_reasons) for prediction in predictions)


@pytest.mark.parametrize("rate", [0.0, 0.5, 0.9, -0.05])
def test_a_flag_rate_outside_0_to_0_5_is_refused(rate):
    with pytest.raises(ValueError, match=r"novelty_flag_rate must lie in \(0, 0.5\)"):
        RepositoryOptions(novelty_flag_rate=rate)


def test_the_flag_rate_sets_the_threshold_from_the_validation_scores(tiny_model, tmp_path):
    strict = build_repository(
        tiny_model.checkpoint, tiny_model.onnx.parent, tmp_path / "strict", RepositoryOptions(novelty_flag_rate=0.01)
    )
    loose = build_repository(
        tiny_model.checkpoint, tiny_model.onnx.parent, tmp_path / "loose", RepositoryOptions(novelty_flag_rate=0.3)
    )

    def threshold(built):
        policy = step_folders(built.path, 1)[POSTPROCESS] / REVIEW_POLICY_FILENAME
        return json.loads(policy.read_text())["novelty_threshold"]

    assert threshold(strict) > threshold(loose)
    assert threshold(loose) == load_detector(tiny_model.checkpoint, 0.3).threshold
