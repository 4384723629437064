"""Novelty scores, the Mahalanobis detector, label exclusion and the held-out-class protocol."""

import json

import numpy as np
import pytest

from ticket_classifier.errors import TicketClassifierError
from ticket_classifier.training.config import DataConfig
from ticket_classifier.training.data import prepare_splits
from ticket_classifier.training.held_out import RESULT_FILENAME, choose_held_out, held_out_evaluation
from ticket_classifier.training.novelty import (
    SCORES,
    SHRINKAGE,
    KnnScorer,
    MahalanobisDetector,
    auroc,
    check_flag_rate,
    energy_score,
    max_logit_score,
    threshold_at,
)


def clusters(seed=0, per_class=200, dim=8):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 5, (3, dim))
    targets = np.repeat(np.arange(3), per_class)
    return centres[targets] + rng.normal(0, 1, (len(targets), dim)), targets, rng


def test_mahalanobis_equals_the_textbook_distance_and_separates_a_far_cluster():
    features, targets, rng = clusters()
    detector = MahalanobisDetector.fit(features, targets, 3)
    centred = features - detector.means[targets]
    covariance = centred.T @ centred / (len(features) - 3)
    covariance += SHRINKAGE * np.trace(covariance) / len(covariance) * np.eye(len(covariance))
    precision = np.linalg.inv(covariance)
    x = features[:5]
    expected = np.min([np.einsum("bi,ij,bj->b", x - m, precision, x - m) for m in detector.means], axis=0)
    np.testing.assert_allclose(detector.score(x), expected, rtol=1e-3)
    foreign = rng.normal(30, 1, (50, features.shape[1]))
    assert detector.score(foreign).min() > detector.score(features).max()
    assert auroc(detector.score(features), detector.score(foreign)) == 1.0


def test_the_threshold_flags_the_configured_share_of_in_scope_scores():
    scores = np.arange(1000, dtype=np.float32)
    detector = MahalanobisDetector(np.zeros((2, 2)), np.eye(2)).calibrate(scores, 0.05)
    assert np.mean(scores > detector.threshold) == pytest.approx(0.05, abs=0.002)
    assert detector.flag_rate == 0.05


@pytest.mark.parametrize("rate", [0.0, 0.5, 0.7, -0.1])
def test_a_flag_rate_outside_0_to_0_5_is_refused(rate):
    with pytest.raises(TicketClassifierError, match="between 0 and 0.5"):
        check_flag_rate(rate)
    with pytest.raises(TicketClassifierError):
        threshold_at(np.ones(10), rate)


def test_a_class_without_training_features_is_refused():
    features, targets, _ = clusters()
    with pytest.raises(TicketClassifierError, match=r"no training features for classes \[3\]"):
        MahalanobisDetector.fit(features, targets, 4)


def test_logit_scores_and_knn_rank_the_obvious_cases():
    confident, flat = np.array([[10.0, 0.0, 0.0]]), np.array([[0.1, 0.0, 0.05]])
    assert max_logit_score(flat)[0] > max_logit_score(confident)[0]
    assert energy_score(flat)[0] > energy_score(confident)[0]
    features, _, rng = clusters()
    knn = KnnScorer(features)
    assert knn.score(rng.normal(30, 1, (5, features.shape[1]))).min() > np.median(knn.score(features))


def test_auroc_counts_ties_as_half():
    assert auroc(np.array([1.0, 2.0]), np.array([1.0, 2.0])) == 0.5
    assert auroc(np.array([0.0, 0.1]), np.array([5.0])) == 1.0


def test_excluded_labels_are_left_out_and_counted(demo_csv):
    splits = prepare_splits(DataConfig(path=str(demo_csv), exclude_labels=["Printing", "Email"]), seed=3)
    assert {"Printing", "Email"}.isdisjoint(splits.labels)
    assert splits.report.excluded_labels["Printing"] > 0 and splits.report.excluded_labels["Email"] > 0


def test_excluding_a_label_that_is_not_in_the_data_is_an_error(demo_csv):
    with pytest.raises(TicketClassifierError, match=r"not in the data: \['Printng'\]"):
        prepare_splits(DataConfig(path=str(demo_csv), exclude_labels=["Printng"]), seed=3)


def test_the_held_out_labels_are_seeded_and_leave_two():
    labels = [f"l{i}" for i in range(8)]
    assert choose_held_out(labels, 2, 13) == choose_held_out(labels, 2, 13)
    assert choose_held_out(labels, 2, 13) != choose_held_out(labels, 2, 14)
    for bad in (0, 7):
        with pytest.raises(TicketClassifierError, match="between 1 and 6"):
            choose_held_out(labels, bad, 13)


@pytest.mark.slow
def test_held_out_evaluation_runs_end_to_end_on_a_tiny_model(tiny_encoders, demo_csv, make_training_config, tmp_path):
    from ticket_classifier.training.pipeline import train

    config = make_training_config(tiny_encoders["bert"], demo_csv, tmp_path / "unused")
    evaluation = held_out_evaluation(
        config,
        held_out=2,
        seed=13,
        flag_rate=0.1,
        output_dir=tmp_path / "novelty",
        train=lambda c: train(c, show_progress=False),
    )
    assert set(evaluation["scores"]) == set(SCORES)
    assert evaluation["tickets"]["unknown"] > 0 and evaluation["in_scope_labels"] == 6
    for row in evaluation["scores"].values():
        assert 0.0 <= row["in_scope_flagged"] <= 1.0 and 0.0 <= row["auroc"] <= 1.0
    assert json.loads((tmp_path / "novelty" / RESULT_FILENAME).read_text()) == evaluation
    assert (tmp_path / "novelty" / "checkpoint" / "labels.json").is_file()


FOREIGN_TEXTS = [
    "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore",
    "Preheat the oven to 180 degrees, whisk two eggs with sugar and fold in the flour gently",
    "Der Zug nach Hamburg fährt heute wegen Bauarbeiten von Gleis sieben ab",
    "def fibonacci(n): return n if n < 2 else fibonacci(n - 1) + fibonacci(n - 2)",
    "The match ended two all after a late penalty in the ninetieth minute of extra time",
]


@pytest.mark.slow
def test_on_a_fine_tuned_minilm_foreign_texts_score_above_known_tickets(demo_csv, tmp_path):
    """The bundled MiniLM, fine-tuned one epoch on the demo tickets: texts of no ticket category at all
    score above 95 % of the known test tickets, and the detector's threshold flags at least 4 of 5."""
    from ticket_classifier.training.checkpoint import load_checkpoint, read_split
    from ticket_classifier.training.config import (
        DataConfig,
        EncoderConfig,
        EvaluationConfig,
        OptimizationConfig,
        TrainingConfig,
    )
    from ticket_classifier.training.novelty import features_and_logits, load_detector
    from ticket_classifier.training.pipeline import train

    config = TrainingConfig(
        data=DataConfig(path=str(demo_csv), timestamp_field="created_at"),
        model=EncoderConfig(encoder="minilm", max_length=48),
        optimization=OptimizationConfig(epochs=1, batch_size=32, learning_rate=2e-4, seed=3),
        evaluation=EvaluationConfig(baseline=False),
        output_dir=str(tmp_path / "checkpoint"),
    )
    result = train(config, show_progress=False)
    checkpoint = load_checkpoint(result.checkpoint_dir)
    detector = load_detector(result.checkpoint_dir)
    texts, _ = read_split(result.checkpoint_dir, "test")
    known = detector.score(features_and_logits(checkpoint.model, checkpoint.tokenizer, texts)[0])
    foreign = detector.score(features_and_logits(checkpoint.model, checkpoint.tokenizer, FOREIGN_TEXTS)[0])
    assert foreign.min() > np.quantile(known, 0.95), (foreign, np.quantile(known, [0.5, 0.95]))
    assert (foreign > detector.threshold).sum() >= 4, (foreign, detector.threshold)
    assert result.metrics["novelty"]["detector"] == "mahalanobis"
