"""Temperature scaling and expected calibration error."""

import numpy as np
import pytest

from ticket_classifier.training.calibration import (
    choose_temperature,
    expected_calibration_error,
    fit_temperature,
    negative_log_likelihood,
    reliability_bins,
)
from ticket_classifier.training.inference import softmax


def overconfident_logits(seed=0, n=4000, classes=5, scale=4.0):
    """Logits whose softmax is overconfident by a known temperature."""
    rng = np.random.default_rng(seed)
    true_logits = rng.normal(size=(n, classes))
    targets = np.array([rng.choice(classes, p=row) for row in softmax(true_logits)])
    return true_logits * scale, targets


def test_temperature_recovers_the_overconfidence_factor():
    logits, targets = overconfident_logits(scale=4.0)
    assert fit_temperature(logits, targets) == pytest.approx(4.0, rel=0.1)


def test_scaling_reduces_ece():
    logits, targets = overconfident_logits()
    temperature = fit_temperature(logits, targets)
    before = expected_calibration_error(softmax(logits), targets)
    after = expected_calibration_error(softmax(logits, temperature), targets)
    assert after < before / 3 and after < 0.03


def test_ece_of_perfect_and_of_worst_predictions():
    one_hot = np.eye(3)[[0, 1, 2, 0]]
    assert expected_calibration_error(one_hot, np.array([0, 1, 2, 0])) == pytest.approx(0.0)
    assert expected_calibration_error(one_hot, np.array([1, 2, 0, 1])) == pytest.approx(1.0)


def test_ece_by_hand():
    probabilities = np.array([[0.95, 0.05], [0.95, 0.05], [0.55, 0.45], [0.55, 0.45]])
    targets = np.array([0, 1, 0, 0])
    # bin of 0.95: accuracy 0.5, gap 0.45; bin of 0.55: accuracy 1.0, gap 0.45
    assert expected_calibration_error(probabilities, targets, bins=15) == pytest.approx(0.45)


def test_reliability_bins_count_every_example():
    logits, targets = overconfident_logits(n=500)
    table = reliability_bins(softmax(logits), targets, bins=15)
    assert table["counts"].sum() == 500 and len(table["edges"]) == 16


@pytest.mark.parametrize("scale, expected", [(4.0, 4.0), (0.4, 0.4)], ids=["over-confident", "under-confident"])
def test_a_fitted_temperature_is_kept_when_it_lowers_the_validation_nll(scale, expected):
    logits, targets = overconfident_logits(scale=scale)
    choice = choose_temperature(logits, targets)
    assert choice["kept"] and choice["temperature"] == pytest.approx(expected, rel=0.15)
    nll = choice["validation_nll"]
    assert nll["after"] < nll["before"]
    assert nll["after"] == pytest.approx(negative_log_likelihood(logits, targets, choice["temperature"]))


def test_an_insane_temperature_is_not_applied_and_the_reason_is_given():
    # A model that learnt nothing: tiny logits, every answer wrong; the fit runs to an extreme temperature.
    logits = np.tile(np.array([[0.02, 0.0, 0.0]]), (60, 1))
    targets = np.full(60, 1)
    choice = choose_temperature(logits, targets)
    assert not choice["kept"] and choice["temperature"] == 1.0
    assert "is above 10.0: not applied (T = 1)" in choice["reason"]
    assert choice["validation_nll"]["after"] == choice["validation_nll"]["before"]


def test_reliability_bins_put_each_confidence_in_its_own_bin():
    # 20 classes let a top-1 confidence fall below 1/15 (the first bin); 0.95 and 0.92 lie in the
    # last two of 15 bins, 14/15 = 0.9333 being the edge between them (right edges included).
    confidences = [0.06, 0.5, 0.92, 0.95, 14 / 15]
    probabilities = np.full((len(confidences), 20), 0.0)
    for row, confidence in enumerate(confidences):
        probabilities[row] = (1.0 - confidence) / 19
        probabilities[row, 0] = confidence
    table = reliability_bins(probabilities, np.zeros(len(confidences), dtype=int), bins=15)
    np.testing.assert_allclose(table["edges"], np.linspace(0.0, 1.0, 16))
    assert np.flatnonzero(table["counts"]).tolist() == [0, 7, 13, 14]
    assert table["counts"][[0, 7, 13, 14]].tolist() == [1, 1, 2, 1]
    assert table["confidence"][13] == pytest.approx((0.92 + 14 / 15) / 2)


def test_a_temperature_below_the_sane_range_is_not_applied():
    # Perfectly separable, barely confident logits: the fit drives T towards 0.
    logits = np.tile(np.array([[0.01, 0.0, 0.0]]), (60, 1))
    choice = choose_temperature(logits, np.zeros(60, dtype=int))
    assert choice["fitted"] < 0.1 and not choice["kept"] and choice["temperature"] == 1.0
    assert "is below 0.1: not applied (T = 1)" in choice["reason"] and "head_learning_rate" in choice["reason"]


def test_ece_and_the_reliability_table_use_the_documented_15_bins_by_default():
    logits, targets = overconfident_logits(n=500)
    probabilities = softmax(logits)
    assert len(reliability_bins(probabilities, targets)["counts"]) == 15
    assert expected_calibration_error(probabilities, targets) == expected_calibration_error(
        probabilities, targets, bins=15
    )
    assert expected_calibration_error(probabilities, targets) != expected_calibration_error(
        probabilities, targets, bins=14
    )


def test_nll_by_hand_at_t_1_and_at_another_temperature():
    logits = np.array([[2.7, 0.3, -1.2], [0.4, 1.9, 0.1], [-0.6, 0.2, 0.25]])
    targets = np.array([0, 1, 0])

    def by_hand(temperature):
        scaled = logits / temperature
        log_softmax = scaled - np.log(np.exp(scaled).sum(axis=1, keepdims=True))
        return -log_softmax[np.arange(3), targets].mean()

    assert negative_log_likelihood(logits, targets) == pytest.approx(by_hand(1.0), rel=1e-12)
    assert negative_log_likelihood(logits, targets, 2.5) == pytest.approx(by_hand(2.5), rel=1e-12)
    choice = choose_temperature(*overconfident_logits(n=500))
    assert choice["validation_nll"]["before"] == pytest.approx(
        negative_log_likelihood(*overconfident_logits(n=500), 1.0)
    )


def test_ece_counts_a_bin_that_holds_a_single_example():
    probabilities = np.array([[0.95, 0.05], [0.55, 0.45], [0.55, 0.45]])
    targets = np.array([1, 0, 0])
    # bin of 0.95 (one example, wrong): gap 0.95; bin of 0.55 (two, right): gap 0.45
    assert expected_calibration_error(probabilities, targets) == pytest.approx((0.95 + 2 * 0.45) / 3)
