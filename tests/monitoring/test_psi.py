"""PSI and drift status."""

import math

import pytest

from ticket_classifier.monitoring.psi import drift_status, population_stability_index


def test_identical_distributions_have_zero_psi():
    assert population_stability_index([0.5, 0.3, 0.2], [50, 30, 20]) == pytest.approx(0.0, abs=1e-12)


def test_psi_by_hand():
    expected = (0.25 - 0.5) * math.log(0.25 / 0.5) + (0.75 - 0.5) * math.log(0.75 / 0.5)
    assert population_stability_index([0.5, 0.5], [1, 3]) == pytest.approx(expected)


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
