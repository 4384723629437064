"""What the server answers stays what it answered: the tiny models' served predictions for fixed
tickets, compared with those recorded before the runtime package was redrawn (issue 13).

The tiny models train deterministically per seed, so the same tickets get the same categories,
review decisions and reasons (their numbers masked) and, to float noise, confidences. Record a
deliberate change with ``make update-golden`` (``pytest tests/integration/test_served_predictions.py --update-golden``)
and review the diff.
"""

import json
import re
from pathlib import Path

import pytest

from ticket_classifier.clients.client import TicketClassifierClient
from ticket_classifier.training.demo_data import generate_tickets

pytestmark = pytest.mark.integration
GOLDEN = Path(__file__).parent / "golden" / "served_predictions.json"
TICKETS = [(ticket.subject, ticket.description) for ticket in generate_tickets(40, seed=77)]
CONFIDENCE_TOLERANCE = 1e-3
# A category is compared where the recorded top-1 leads top-2 by more than this (a near tie may
# flip on another CPU's float rounding).
CLEAR_MARGIN = 0.01
NUMBER = re.compile(r"\d+(\.\d+)?")


def worded(reasons: list[str]) -> list[str]:
    """Review reasons with their numbers masked: which rules fired, and the categories they name."""
    return [NUMBER.sub("#", reason) for reason in reasons]


def observed(server) -> list[dict]:
    """The served answer for every ticket: category, top-3, rounded scores, review decision."""
    with TicketClassifierClient(server.grpc_url) as client:
        predictions = client.classify_batch(TICKETS)
    return [
        {
            "category": prediction.category,
            "top_3": [label for label, _ in prediction.top_k[:3]],
            "scores": [round(score, 5) for _, score in prediction.top_k[:3]],
            "requires_review": prediction.requires_review,
            "review_reasons": prediction.review_reasons,
        }
        for prediction in predictions
    ]


def test_served_predictions_are_unchanged(tiny_model, tiny_server, request):
    answers = observed(tiny_server)
    recorded = json.loads(GOLDEN.read_text(encoding="utf-8")) if GOLDEN.is_file() else {}
    if request.config.getoption("--update-golden"):
        recorded[tiny_model.architecture] = answers
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps(recorded, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        return
    expected = recorded[tiny_model.architecture]
    assert len(expected) == len(answers) == len(TICKETS)
    clear = 0
    for index, (old, new) in enumerate(zip(expected, answers)):
        assert new["scores"] == pytest.approx(old["scores"], abs=CONFIDENCE_TOLERANCE), index
        if old["scores"][0] - old["scores"][1] > CLEAR_MARGIN:
            clear += 1
            assert new["category"] == old["category"], index
            assert new["requires_review"] == old["requires_review"], index
            assert worded(new["review_reasons"]) == worded(old["review_reasons"]), index
    assert clear >= len(TICKETS) // 2, "too few clear decisions to compare: choose other tickets"
