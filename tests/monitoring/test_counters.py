"""Scraped product counters: parsing, restarts, sliding windows."""

from ticket_classifier.monitoring.counters import CONFIDENCE, PREDICTIONS, CounterHistory, parse_product_counters

EXPOSITION = """# HELP ticket_classifier_predictions_total Tickets classified, by predicted category
# TYPE ticket_classifier_predictions_total counter
ticket_classifier_predictions_total{category="Email",model_version="1-fp32-a"} 7
ticket_classifier_predictions_total{category="Email",model_version="2-fp32-b"} 3
ticket_classifier_predictions_total{category="Network",model_version="2-fp32-b"} 5
# TYPE ticket_classifier_confidence_total counter
ticket_classifier_confidence_total{bin="0.9-1.0",model_version="2-fp32-b"} 8
# TYPE nv_inference_count counter
nv_inference_count{model="ticket_classifier",version="1"} 15
"""


def test_parse_sums_versions_or_keeps_one():
    assert parse_product_counters(EXPOSITION) == {
        (PREDICTIONS, "Email"): 10.0,
        (PREDICTIONS, "Network"): 5.0,
        (CONFIDENCE, "0.9-1.0"): 8.0,
    }
    assert parse_product_counters(EXPOSITION, "1-fp32-a") == {(PREDICTIONS, "Email"): 7.0}


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
    categories, _ = history.window_by_time(120)
    assert categories == {"Email": 0.0, "Network": 30.0}


def test_count_window_reaches_back_far_enough():
    history = CounterHistory()
    for minute, (email, network) in enumerate([(0, 0), (10, 0), (20, 0), (20, 10), (20, 30)]):
        history.update(counters(email, network), now=60 * minute)
    categories, _ = history.window_by_count(35)
    assert sum(categories.values()) >= 35
    assert categories == {"Email": 10.0, "Network": 30.0}


def test_first_scrape_is_the_baseline():
    history = CounterHistory()
    history.update(counters(100, 100), now=0)
    assert history.window_by_time(60) == ({"Email": 0.0, "Network": 0.0}, {})
