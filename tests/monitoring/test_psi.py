"""PSI and drift status."""

import math

import pytest

from ticket_classifier.monitoring.psi import drift_status, population_stability_index


def test_identical_distributions_have_zero_psi():
    assert population_stability_index([0.5, 0.3, 0.2], [50, 30, 20]) == pytest.approx(0.0, abs=1e-12)


def test_psi_by_hand():
    expected = (0.25 - 0.5) * math.log(0.25 / 0.5) + (0.75 - 0.5) * math.log(0.75 / 0.5)
    assert population_stability_index([0.5, 0.5], [1, 3]) == pytest.approx(expected)


def test_psi_by_hand_with_the_epsilon_floor_over_four_bins():
    # reference [0.6, 0.3, 0.1, 0]; observed counts [10, 0, 50, 40] -> shares [0.1, 0, 0.5, 0.4]
    epsilon = 0.01
    expected = [0.6, 0.3, 0.1, epsilon]  # the empty reference bin floored ...
    actual = [0.1, epsilon, 0.5, 0.4]  # ... and the empty observed bin too
    expected = [value / sum(expected) for value in expected]  # then both renormalised to 1
    actual = [value / sum(actual) for value in actual]
    by_hand = sum((a - e) * math.log(a / e) for a, e in zip(actual, expected))
    assert by_hand == pytest.approx(3.9254, abs=1e-4)
    assert population_stability_index([0.6, 0.3, 0.1, 0.0], [10, 0, 50, 40], epsilon=epsilon) == pytest.approx(by_hand)


def test_psi_grows_with_the_shift():
    small = population_stability_index([0.5, 0.5], [55, 45])
    large = population_stability_index([0.5, 0.5], [80, 20])
    assert 0 < small < 0.1 < large


def test_empty_bins_use_the_epsilon_floor():
    value = population_stability_index([1.0, 0.0], [50, 50], epsilon=1e-4)
    assert math.isfinite(value) and value > 1.0
    assert population_stability_index([1.0, 0.0], [50, 50], epsilon=1e-2) < value


def test_no_observations_give_nan():
    assert math.isnan(population_stability_index([0.5, 0.5], [0, 0]))


def test_bin_counts_must_match():
    with pytest.raises(ValueError, match="2 reference bins but 3 observed bins"):
        population_stability_index([0.5, 0.5], [1, 2, 3])


@pytest.mark.parametrize("psi, status", [(0.05, 0), (0.1, 1), (0.2, 1), (0.25, 2), (3.0, 2), (math.nan, -1)])
def test_status_thresholds(psi, status):
    assert drift_status(psi) == status


def test_configurable_thresholds():
    assert drift_status(0.15, warning=0.2, alert=0.3) == 0


def test_the_default_epsilon_is_one_hundredth_of_a_percent():
    assert population_stability_index([1.0, 0.0], [50, 50]) == population_stability_index(
        [1.0, 0.0], [50, 50], epsilon=1e-4
    )
    assert population_stability_index([1.0, 0.0], [50, 50]) != population_stability_index(
        [1.0, 0.0], [50, 50], epsilon=1e-3
    )


def test_a_single_observation_gives_a_psi():
    assert population_stability_index([0.5, 0.5], [1, 0]) > 0


def test_more_reference_bins_than_observed_is_an_error_too():
    with pytest.raises(ValueError, match="3 reference bins but 2 observed bins"):
        population_stability_index([0.2, 0.3, 0.5], [1, 2])
