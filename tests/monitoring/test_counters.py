"""Scraped product counters: parsing, restarts, sliding windows."""

import pytest

from ticket_classifier.monitoring.counters import (
    CONFIDENCE_BUCKET,
    PREDICTIONS,
    REVIEW_RULES,
    CounterHistory,
    bin_counts,
    parse_product_counters,
)

EXPOSITION = """# HELP ticket_classifier_predictions_total Tickets classified, by predicted category
# TYPE ticket_classifier_predictions_total counter
ticket_classifier_predictions_total{category="Email",model_version="1-fp32-a"} 7
ticket_classifier_predictions_total{category="Email",model_version="2-fp32-b"} 3
ticket_classifier_predictions_total{category="Network",model_version="2-fp32-b"} 5
# TYPE ticket_classifier_confidence histogram
ticket_classifier_confidence_bucket{model_version="2-fp32-b",le="0.5"} 2
ticket_classifier_confidence_bucket{model_version="2-fp32-b",le="1"} 8
ticket_classifier_confidence_bucket{model_version="2-fp32-b",le="+Inf"} 8
ticket_classifier_confidence_sum{model_version="2-fp32-b"} 6.1
ticket_classifier_confidence_count{model_version="2-fp32-b"} 8
# TYPE ticket_classifier_review_rules_total counter
ticket_classifier_review_rules_total{rule="unknown_category",model_version="2-fp32-b"} 4
ticket_classifier_review_rules_total{rule="margin",model_version="2-fp32-b"} 9
# TYPE nv_inference_count counter
nv_inference_count{model="ticket_classifier",version="1"} 15
"""


def test_parse_sums_versions_or_keeps_one():
    assert parse_product_counters(EXPOSITION) == {
        (PREDICTIONS, "Email"): 10.0,
        (PREDICTIONS, "Network"): 5.0,
        (CONFIDENCE_BUCKET, "0.5"): 2.0,
        (CONFIDENCE_BUCKET, "1"): 8.0,
        (CONFIDENCE_BUCKET, "+Inf"): 8.0,
        (REVIEW_RULES, "unknown_category"): 4.0,
    }
    assert parse_product_counters(EXPOSITION, "1-fp32-a") == {(PREDICTIONS, "Email"): 7.0}


def test_unknown_category_flags_are_windowed_like_the_categories():
    history = CounterHistory()
    history.update({**counters(10, 5), (REVIEW_RULES, "unknown_category"): 1.0}, now=0)
    history.update({**counters(20, 15), (REVIEW_RULES, "unknown_category"): 7.0}, now=60)
    categories, _, unknown = history.window_by_time(60)
    assert categories == {"Email": 10.0, "Network": 10.0} and unknown == 6.0


def counters(email, network):
    return {(PREDICTIONS, "Email"): float(email), (PREDICTIONS, "Network"): float(network)}


def test_restart_keeps_cumulative_counts_monotonic():
    history = CounterHistory()
    history.update(counters(10, 5), now=0)
    history.update(counters(12, 6), now=10)
    snapshot = history.update(counters(1, 0), now=20)  # Triton restarted: counters began again
    assert history.resets == 1
    assert snapshot.categories == {"Email": 13.0, "Network": 6.0}


def test_time_window_counts_only_recent_predictions():
    history = CounterHistory()
    for minute, (email, network) in enumerate([(0, 0), (10, 0), (20, 0), (20, 10), (20, 30)]):
        history.update(counters(email, network), now=60 * minute)
    categories, _, _ = history.window_by_time(120)
    assert categories == {"Email": 0.0, "Network": 30.0}


def test_count_window_reaches_back_far_enough():
    history = CounterHistory()
    for minute, (email, network) in enumerate([(0, 0), (10, 0), (20, 0), (20, 10), (20, 30)]):
        history.update(counters(email, network), now=60 * minute)
    categories, _, _ = history.window_by_count(35)
    assert sum(categories.values()) >= 35
    assert categories == {"Email": 10.0, "Network": 30.0}


def test_first_scrape_is_the_baseline():
    history = CounterHistory()
    history.update(counters(100, 100), now=0)
    assert history.window_by_time(60) == ({"Email": 0.0, "Network": 0.0}, {}, 0.0)


def test_bin_counts_undo_the_cumulative_buckets_matching_bounds_as_numbers():
    edges = [0.0, 0.1, 0.5, 1.0]
    buckets = {"0.10000000000000001": 1.0, "0.5": 4.0, "1": 10.0, "+Inf": 10.0}
    assert bin_counts(buckets, edges) == [1.0, 3.0, 6.0]
    assert bin_counts({}, edges) == [0.0, 0.0, 0.0]


def test_a_confidence_window_is_a_difference_of_cumulative_buckets():
    history = CounterHistory()
    history.update({(CONFIDENCE_BUCKET, "0.5"): 1.0, (CONFIDENCE_BUCKET, "1"): 3.0}, now=0)
    history.update({(CONFIDENCE_BUCKET, "0.5"): 4.0, (CONFIDENCE_BUCKET, "1"): 10.0}, now=60)
    _, buckets, _ = history.window_by_time(30)
    assert bin_counts(buckets, [0.0, 0.5, 1.0]) == pytest.approx([3.0, 4.0])
