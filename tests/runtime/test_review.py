"""The review policy on hand-built probability vectors."""

import math

import pytest

from ticket_classifier.runtime.review import ReviewPolicy


def test_confident_prediction_needs_no_review():
    assert ReviewPolicy().decide({"Network": 0.9, "Access": 0.06, "Security": 0.04}) == (False, [])


def test_low_confidence_needs_review():
    needs, reasons = ReviewPolicy(confidence_threshold=0.6).decide({"Network": 0.5, "Access": 0.3, "Email": 0.2})
    assert needs and reasons == ["confidence 0.50 below the threshold 0.60"]


def test_per_category_threshold_overrides_the_global_one():
    policy = ReviewPolicy(confidence_threshold=0.6, category_thresholds={"Database": 0.9})
    needs, reasons = policy.decide({"Database": 0.85, "Software": 0.15})
    assert needs and reasons == ["confidence 0.85 below the Database threshold 0.90"]
    assert not policy.decide({"Network": 0.85, "Software": 0.15})[0]  # a category the policy does not name


@pytest.mark.parametrize(
    "scores, critical, novelty, reason",
    [
        ({"A": 0.5969, "B": 0.4031}, {}, 0.0, "confidence 0.597 below the threshold 0.600"),
        ({"A": 0.59999, "B": 0.40001}, {}, 0.0, "confidence 0.59999 below the threshold 0.60000"),
        ({"A": 0.59999996, "B": 0.40000004}, {}, 0.0, "confidence 0.59999996 below the threshold 0.60000000"),
        ({"A": 0.8, "B": 0.1503, "C": 0.0497}, {"B": 0.15}, 0.0, "critical category B at 0.1503 (flag from 0.1500)"),
        ({"A": 0.8, "B": 0.2}, {}, 403.94, "unknown category: novelty 403.94 above 403.93"),
    ],
)
def test_numbers_that_round_alike_are_written_with_the_decimals_that_tell_them_apart(scores, critical, novelty, reason):
    policy = ReviewPolicy(
        confidence_threshold=0.6, margin_threshold=0.0, critical_categories=critical, novelty_threshold=403.93
    )
    assert policy.decide(scores, novelty) == (True, [reason])


def test_critical_category_is_flagged_when_not_top_1():
    policy = ReviewPolicy(critical_categories={"Security": 0.15})
    needs, reasons = policy.decide({"Email": 0.8, "Security": 0.18, "Access": 0.02})
    assert needs and reasons == ["critical category Security at 0.18 (flag from 0.15)"]
    assert not policy.decide({"Email": 0.9, "Security": 0.08, "Access": 0.02})[0]
    assert not policy.decide({"Security": 0.95, "Email": 0.05})[0]  # top-1 itself: routed as Security


def test_margin_rule():
    policy = ReviewPolicy(confidence_threshold=0.3, margin_threshold=0.1)
    needs, reasons = policy.decide({"Network": 0.48, "Access": 0.42, "Email": 0.10})
    assert needs and reasons == ["margin 0.06 to Access below 0.10"]


def test_tie_for_the_top_place_always_needs_review():
    needs, reasons = ReviewPolicy(confidence_threshold=0.3).decide({"Network": 0.45, "Access": 0.45, "Email": 0.1})
    assert needs and reasons == ["tie between Access and Network at 0.45"]


def test_all_equal_scores():
    needs, reasons = ReviewPolicy().decide({label: 0.25 for label in ("A", "B", "C", "D")})
    assert needs
    assert reasons[0].startswith("confidence 0.25 below") and reasons[1] == "tie between A and B at 0.25"


def test_several_reasons_are_all_given():
    policy = ReviewPolicy(confidence_threshold=0.6, margin_threshold=0.2, critical_categories={"Security": 0.1})
    needs, reasons = policy.decide({"Email": 0.5, "Security": 0.4, "Access": 0.1})
    assert needs and len(reasons) == 3


def test_single_label_model():
    assert ReviewPolicy().decide({"Only": 1.0}) == (False, [])


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_non_finite_scores_are_an_error(bad):
    with pytest.raises(ValueError, match="not finite numbers for: Access"):
        ReviewPolicy().decide({"Network": 0.5, "Access": bad})


def test_empty_scores_are_an_error():
    with pytest.raises(ValueError, match="without scores"):
        ReviewPolicy().decide({})


def test_policy_naming_unknown_categories_is_rejected():
    policy = ReviewPolicy(category_thresholds={"Databse": 0.7}, critical_categories={"Security": 0.1})
    with pytest.raises(
        ValueError,
        match=r"does not know \(review.category_thresholds: Databse\); the model's categories are: Database, Security",
    ):
        policy.check_labels(["Database", "Security"])
    policy.check_labels(["Databse", "Security"])


@pytest.mark.parametrize(
    "options", [dict(confidence_threshold=1.5), dict(margin_threshold=-0.1), dict(critical_categories={"S": 2.0})]
)
def test_thresholds_outside_zero_one_are_rejected(options):
    with pytest.raises(ValueError, match="must lie in \\[0, 1\\]"):
        ReviewPolicy(**options)


def test_evaluate_names_the_rules():
    policy = ReviewPolicy(confidence_threshold=0.6, margin_threshold=0.2, critical_categories={"Security": 0.1})
    rules = [rule for rule, _ in policy.evaluate({"Email": 0.5, "Security": 0.4, "Access": 0.1})]
    assert rules == ["confidence", "margin", "critical"]


def test_boundaries_are_inclusive_where_documented():
    # confidence exactly at its threshold, a margin exactly at its threshold: no review
    policy = ReviewPolicy(confidence_threshold=0.625, margin_threshold=0.125)
    assert policy.decide({"A": 0.625, "B": 0.5}) == (False, [])
    # a critical category exactly at its own threshold: review
    critical = ReviewPolicy(confidence_threshold=0.5, margin_threshold=0.0, critical_categories={"Security": 0.25})
    assert critical.decide({"Email": 0.75, "Security": 0.25}) == (
        True,
        ["critical category Security at 0.25 (flag from 0.25)"],
    )


@pytest.mark.parametrize("value", [0.0, 1.0])
def test_thresholds_of_exactly_zero_and_one_are_valid(value):
    ReviewPolicy(confidence_threshold=value, margin_threshold=value, critical_categories={"S": value})


def test_the_margin_is_the_difference_of_the_top_two():
    policy = ReviewPolicy(confidence_threshold=0.0, margin_threshold=0.8)
    assert policy.decide({"A": 0.9, "B": 0.2}) == (True, ["margin 0.70 to B below 0.80"])


def test_a_tie_is_seen_between_equal_values_that_are_different_objects():
    half = sum([0.25, 0.25])  # 0.5, computed: not the same float object as the literal
    needs, reasons = ReviewPolicy(confidence_threshold=0.0, margin_threshold=0.0).decide({"A": 0.5, "B": half})
    assert needs and reasons == ["tie between A and B at 0.50"]


def test_a_single_label_at_zero_confidence_is_reviewed_for_its_confidence_only():
    assert ReviewPolicy().decide({"Only": 0.0}) == (True, ["confidence 0.00 below the threshold 0.60"])


def test_a_critical_category_absent_from_the_scores_is_not_flagged():
    policy = ReviewPolicy(critical_categories={"Security": 0.1})
    assert policy.decide({"Email": 0.95, "Access": 0.05}) == (False, [])


def test_critical_categories_are_compared_by_name_not_by_order_or_identity():
    policy = ReviewPolicy(confidence_threshold=0.5, margin_threshold=0.0, critical_categories={"Access": 0.2})
    assert policy.decide({"Email": 0.7, "Access": 0.3})[0], "a critical label sorting before the top-1 is flagged"
    top = "".join(["Acc", "ess"])  # equal to the policy's key, but another string object
    assert policy.decide({top: 0.7, "Email": 0.3}) == (False, [])


def test_a_critical_category_without_a_score_never_fires():
    policy = ReviewPolicy(confidence_threshold=0.1, margin_threshold=0.0, critical_categories={"Security": 0.2})
    assert policy.evaluate({"Access": 0.9, "Email": 0.1}) == []
