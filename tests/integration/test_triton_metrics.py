"""The product's own metrics on Triton's endpoint, and the server-side review flag."""

import csv
import json
import re
import subprocess
import sys
import urllib.request

import numpy as np
import pytest
import tritonclient.grpc as grpcclient

from ticket_classifier.build.layout import step_folders
from ticket_classifier.build.repository import build_repository
from ticket_classifier.build.rollout import rollout
from ticket_classifier.clients.client import TicketClassifierClient
from ticket_classifier.clients.review import ReviewPolicy
from ticket_classifier.runtime.contract import POSTPROCESS, REVIEW_POLICY_FILENAME
from ticket_classifier.server import ServerConfig, TritonServer
from ticket_classifier.training.demo_data import generate_tickets

pytestmark = pytest.mark.integration


def scrape(server) -> str:
    with urllib.request.urlopen(server.metrics_url, timeout=5) as response:
        return response.read().decode()


@pytest.fixture
def fresh_server(tiny_model, tmp_path):
    repository = tmp_path / "repository"
    policy = ReviewPolicy(confidence_threshold=0.3, margin_threshold=0.0, critical_categories={"Security": 0.1})
    build_repository(tiny_model.checkpoint, tiny_model.onnx.parent, repository, review_policy=policy)
    config = ServerConfig.on_free_ports()
    with TritonServer(repository, config) as server:
        yield server, repository, policy


RULE_PREFIX = {"confidence": "confidence ", "margin": "margin ", "critical": "critical category "}


def test_counters_add_up_to_the_tickets_sent(fresh_server, metric_total):
    server, _, policy = fresh_server
    tickets = [(t.subject, t.description) for t in generate_tickets(90, seed=4)]
    with TicketClassifierClient(server.grpc_url) as client:
        predictions = client.classify_batch(tickets)
    text = scrape(server)
    assert metric_total(text, "ticket_classifier_predictions_total") == 90
    assert metric_total(text, "ticket_classifier_confidence_count") == 90
    assert metric_total(text, "ticket_classifier_confidence_sum") == pytest.approx(
        sum(p.confidence for p in predictions), abs=1e-3
    )
    for category in {p.category for p in predictions}:
        expected = sum(p.category == category for p in predictions)
        assert metric_total(text, "ticket_classifier_predictions_total", category=category) == expected
    assert metric_total(text, "ticket_classifier_review_required_total") == sum(p.requires_review for p in predictions)
    for rule in ("confidence", "margin", "critical"):
        fired = sum(any(reason.startswith(RULE_PREFIX[rule]) for reason in p.review_reasons) for p in predictions)
        assert metric_total(text, "ticket_classifier_review_rules_total", rule=rule) == fired, rule
    assert 'rule="any"' not in text
    # a real histogram: cumulative buckets at the drift reference's edges, ending with +Inf
    buckets = {
        float(match[1]): float(match[2])
        for match in re.finditer(r'ticket_classifier_confidence_bucket\{[^}]*le="([^"]+)"[^}]*\} (\S+)', text)
    }
    bounds = sorted(buckets)
    assert bounds[-1] == float("inf") and bounds[-2] == pytest.approx(1.0) and len(bounds) == 11
    assert [buckets[bound] for bound in bounds] == sorted(buckets.values()) and buckets[float("inf")] == 90
    below_half = sum(p.confidence <= 0.5 for p in predictions)
    assert buckets[min(bounds, key=lambda bound: abs(bound - 0.5))] == below_half


def test_a_client_anywhere_without_config_gets_the_server_s_decision_and_the_metrics_agree(
    fresh_server, tmp_path, metric_total
):
    server, repository, _ = fresh_server
    # The policy as served: the build added the model's novelty threshold (the unknown_category rule).
    policy = ReviewPolicy(**json.loads((step_folders(repository, 1)[POSTPROCESS] / REVIEW_POLICY_FILENAME).read_text()))
    assert policy.novelty_threshold is not None
    tickets = [(t.subject, t.description) for t in generate_tickets(30, seed=8)]
    source = tmp_path / "tickets.csv"
    with source.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(
            [("ticket_id", "subject", "description")] + [(str(i), *t) for i, t in enumerate(tickets)]
        )
    expected = [
        policy.decide(dict(zip(labels, scores)), novelty) for labels, scores, novelty in _ranked_scores(server, tickets)
    ]
    before = metric_total(scrape(server), "ticket_classifier_review_required_total")
    result = subprocess.run(
        [sys.executable, "-m", "ticket_classifier.cli", "classify", "--url", server.grpc_url, "--input", "tickets.csv",
         "--output", "out.csv"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    with (tmp_path / "out.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["requires_review"] == "true" for row in rows] == [flag for flag, _ in expected]
    assert [row["review_reasons"] for row in rows] == ["; ".join(reasons) for _, reasons in expected]
    assert any(flag for flag, _ in expected) and not all(flag for flag, _ in expected)
    assert any("critical category Security" in row["review_reasons"] for row in rows), "the critical rule occurs"
    flagged = metric_total(scrape(server), "ticket_classifier_review_required_total") - before
    assert flagged == sum(row["requires_review"] == "true" for row in rows)


def _ranked_scores(server, tickets):
    """Each ticket's (labels, scores, novelty) as the server ranks and scores them."""
    client = grpcclient.InferenceServerClient(server.grpc_url)
    inputs = []
    for name, values in (("SUBJECT", [s for s, _ in tickets]), ("DESCRIPTION", [d for _, d in tickets])):
        tensor = grpcclient.InferInput(name, [len(values), 1], "BYTES")
        tensor.set_data_from_numpy(np.array([[v.encode()] for v in values], dtype=object))
        inputs.append(tensor)
    result = client.infer("ticket_classifier", inputs)
    labels = [[value.decode() for value in row] for row in result.as_numpy("RANKED_LABELS")]
    novelty = result.as_numpy("NOVELTY").reshape(-1).tolist()
    return list(zip(labels, result.as_numpy("RANKED_SCORES").tolist(), novelty))


def test_metrics_survive_a_second_version_side_by_side(tiny_model, fresh_server, metric_total):
    server, repository, policy = fresh_server
    build_repository(tiny_model.checkpoint, tiny_model.onnx.parent, repository, review_policy=policy)
    rollout(repository, 2, server.http_url)
    with TicketClassifierClient(server.grpc_url) as client:
        version = client.classify("VPN", "down").model_version
    text = scrape(server)
    assert version.startswith("2-")
    assert metric_total(text, "ticket_classifier_predictions_total", model_version=version) == 1


def test_policy_naming_unknown_categories_is_rejected_at_build(tiny_model, tmp_path):
    from ticket_classifier.errors import TicketClassifierError

    with pytest.raises(TicketClassifierError, match="review.critical_categories: Fraud"):
        build_repository(
            tiny_model.checkpoint,
            tiny_model.onnx.parent,
            tmp_path / "r",
            review_policy=ReviewPolicy(critical_categories={"Fraud": 0.1}),
        )
