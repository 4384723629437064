"""The parity gates' arithmetic, on probabilities made by hand (no ONNX needed)."""

import numpy as np
import pytest

from ticket_classifier.build.parity import (
    GATES,
    NOVELTY_TIE_BANDS,
    Gate,
    compare_variant,
    enforce_gates,
    judge,
    measure,
    review_decisions,
)
from ticket_classifier.clients.review import ReviewPolicy
from ticket_classifier.errors import TicketClassifierError

LABELS = ["Access", "Email", "Security"]
POLICY = ReviewPolicy(confidence_threshold=0.6, margin_threshold=0.0, critical_categories={"Security": 0.3})
REFERENCE = np.array([[0.9, 0.05, 0.05], [0.5, 0.45, 0.05], [0.1, 0.2, 0.7], [0.6, 0.1, 0.3]])


def test_identical_probabilities_agree_fully():
    measured = measure(REFERENCE, REFERENCE, LABELS, POLICY)
    assert measured == {"top1_agreement": 1.0, "mean_probability_difference": 0.0, "review_agreement": 1.0}
    assert judge(measured, GATES["fp32"]) == []


def test_review_decisions_follow_the_policy():
    # row 1: confidence 0.5 < 0.6; row 3: Security 0.3 is critical and not top-1
    assert review_decisions(REFERENCE, LABELS, POLICY).tolist() == [False, True, False, True]


def test_a_lost_temperature_keeps_every_top1_and_moves_the_probabilities():
    flattened = np.exp(np.log(REFERENCE) / 4)
    flattened /= flattened.sum(axis=1, keepdims=True)
    measured = measure(flattened, REFERENCE, LABELS, POLICY)
    assert measured["top1_agreement"] == 1.0
    assert measured["mean_probability_difference"] == pytest.approx(np.abs(flattened - REFERENCE).mean())
    assert measured["review_agreement"] == 0.5  # rows 0 and 2 fall below the 0.6 threshold
    failures = judge(measured, GATES["int8"])
    assert len(failures) == 2
    assert failures[0].startswith("mean probability difference") and failures[1].startswith("review-decision agreement")


def test_a_flipped_top1_is_counted():
    flipped = REFERENCE.copy()
    flipped[1] = [0.45, 0.5, 0.05]
    measured = measure(flipped, REFERENCE, LABELS, POLICY)
    assert measured["top1_agreement"] == 0.75
    assert measured["mean_probability_difference"] == pytest.approx(0.1 / 12)


def test_a_top1_or_review_decision_flipped_either_way_is_a_disagreement():
    variant = REFERENCE.copy()
    variant[2] = [0.7, 0.2, 0.1]  # top-1 moves to a lower index than the reference's
    variant[1] = [0.7, 0.25, 0.05]  # the reference flags row 1 for review, the variant does not
    measured = measure(variant, REFERENCE, LABELS, POLICY)
    assert measured["top1_agreement"] == 0.75
    assert measured["review_agreement"] == 0.75


def test_a_gate_cannot_be_loosened_in_place():
    with pytest.raises(AttributeError):
        GATES["int8"].top1_agreement = 0.5


NOVELTY_POLICY = ReviewPolicy(confidence_threshold=0.6, margin_threshold=0.0, novelty_threshold=100.0)
CONFIDENT = np.tile([0.9, 0.05, 0.05], (200, 1))  # only the novelty rule can send these to review


def on_the_threshold(seed: int) -> np.ndarray:
    """A degenerate model's 200 novelty scores: all on NOVELTY_POLICY's threshold, moved by float noise."""
    return 100.0 * (1 + 1e-7 * np.random.default_rng(seed).standard_normal(200))


def test_fp32_noise_on_scores_that_sit_on_the_novelty_threshold_is_not_a_flipped_decision():
    args = (CONFIDENT, CONFIDENT, LABELS, NOVELTY_POLICY, on_the_threshold(1), on_the_threshold(0))
    untied = measure(*args)
    assert untied["novelty_agreement"] < 0.7 and untied["review_agreement"] < 0.7  # what failed FP32 before
    measured = measure(*args, NOVELTY_TIE_BANDS["fp32"])
    assert measured["novelty_agreement"] == measured["review_agreement"] == 1.0
    assert measured["novelty_ties"] == 200
    assert measured["max_novelty_relative_difference"] == untied["max_novelty_relative_difference"] > 0
    assert judge(measured, GATES["fp32"]) == []


def test_a_variant_that_moves_scores_across_the_threshold_fails_despite_the_tie_band():
    reference = np.linspace(50.0, 150.0, 200)  # half below the threshold, half above
    measured = measure(
        CONFIDENT, CONFIDENT, LABELS, NOVELTY_POLICY, reference * 1.5, reference, NOVELTY_TIE_BANDS["fp16"]
    )
    assert measured["novelty_ties"] == 0  # the variant's scores left the band: not noise
    assert measured["novelty_agreement"] < 0.9 and measured["review_agreement"] < 0.9
    assert judge(measured, GATES["fp16"])[-1].startswith("novelty-flag agreement")


def test_a_tie_needs_both_scores_on_the_threshold_not_only_the_reference():
    reference, variant = on_the_threshold(0), np.full(200, 150.0)  # the variant flags every ticket
    measured = measure(CONFIDENT, CONFIDENT, LABELS, NOVELTY_POLICY, variant, reference, NOVELTY_TIE_BANDS["fp32"])
    assert measured["novelty_ties"] == 0 and measured["novelty_agreement"] < 0.7
    assert judge(measured, GATES["fp32"])


def test_int8_has_no_tie_band_so_its_near_threshold_flips_count():
    args = (CONFIDENT, CONFIDENT, LABELS, NOVELTY_POLICY, on_the_threshold(1), on_the_threshold(0))
    measured = measure(*args, NOVELTY_TIE_BANDS["int8"])
    assert measured["novelty_ties"] == 0
    assert judge(measured, GATES["int8"])


GATE = Gate(top1_agreement=0.999, mean_probability_difference=1e-4, review_agreement=0.999)
AT_THE_GATE = {"top1_agreement": 0.999, "mean_probability_difference": 1e-4, "review_agreement": 0.999}


@pytest.mark.parametrize(
    "change, failure",
    [
        ({}, None),
        ({"top1_agreement": 0.9989}, "top-1 agreement 0.9989 < gate 0.999"),
        ({"mean_probability_difference": 1.01e-4}, "mean probability difference 1.01e-04 > gate 0.0001"),
        ({"review_agreement": 0.9989}, "review-decision agreement 0.9989 < gate 0.999"),
    ],
)
def test_each_gate_is_inclusive_at_its_threshold(change, failure):
    assert judge({**AT_THE_GATE, **change}, GATE) == ([failure] if failure else [])


def test_enforce_gates_fails_when_fp32_or_every_variant_failed_naming_each():
    fp32 = {"precision": "fp32", "passed": False, "failures": ["top-1 agreement 0.9 < gate 0.999"]}
    int8 = {"precision": "int8", "passed": False, "failures": ["top-1 agreement 0.9 < gate 0.99"]}
    with pytest.raises(
        TicketClassifierError, match=r"parity gate failed \(fp32: .*; int8: top-1 agreement 0.9 < gate 0.99\)"
    ):
        enforce_gates([fp32, int8], "report.json")
    with pytest.raises(TicketClassifierError, match=r"parity gate failed \(int8: top-1 agreement 0.9 < gate 0.99\)"):
        enforce_gates([int8], "report.json")  # the only variant asked for: nothing servable


def test_a_faster_precision_that_failed_alone_is_a_warning(caplog):
    results = [
        {"precision": "fp32", "passed": True, "failures": []},
        {"precision": "int8", "passed": False, "failures": ["review-decision agreement 0.97 < gate 0.98"]},
    ]
    enforce_gates(results, "report.json")  # precision auto falls back to FP32; naming int8 is refused at build
    assert "parity gate failed (int8: review-decision agreement 0.97 < gate 0.98): deleted, not servable" in caplog.text
    caplog.clear()
    enforce_gates(results[:1], "report.json")
    assert not caplog.text


def linear_graph(path, weights, temperature=1.0, padding_bytes=0):
    """An ONNX model with the tokenizer's inputs: probabilities = softmax(sum(ids) / 100 * weights / T)
    (and an unused constant of ``padding_bytes``, to give the file a size)."""
    from onnx import TensorProto, helper, numpy_helper, save

    nodes = [
        helper.make_node("Cast", ["input_ids"], ["ids"], to=TensorProto.FLOAT),
        helper.make_node("ReduceSum", ["ids", "axes"], ["total"], keepdims=1),
        helper.make_node("Div", ["total", "hundred"], ["scaled"]),
        helper.make_node("MatMul", ["scaled", "weights"], ["logits"]),
        helper.make_node("Div", ["logits", "temperature"], ["tempered"]),
        helper.make_node("Softmax", ["tempered"], ["probabilities"], axis=1),
    ]
    constants = {
        "axes": np.array([1], dtype=np.int64),
        "hundred": np.array(100.0, dtype=np.float32),
        "weights": np.array([weights], dtype=np.float32),
        "temperature": np.array(temperature, dtype=np.float32),
        "padding": np.zeros(padding_bytes // 4, dtype=np.float32),
    }
    graph = helper.make_graph(
        nodes,
        "linear",
        [
            helper.make_tensor_value_info(name, TensorProto.INT64, ["batch", "sequence"])
            for name in ("input_ids", "attention_mask")
        ],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", len(weights)])],
        [numpy_helper.from_array(value, name) for name, value in constants.items()],
    )
    save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), str(path))
    return path


@pytest.fixture(scope="module")
def word_tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers

    from ticket_classifier.runtime.tokenization import TicketTokenizer

    vocabulary = {
        "[PAD]": 0,
        "[UNK]": 1,
        **{word: index + 2 for index, word in enumerate("vpn down printer jammed mail lost".split())},
    }
    backend = Tokenizer(models.WordLevel(vocabulary, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    return TicketTokenizer(backend, input_names=("input_ids", "attention_mask"), max_length=16)


TEXTS = ["vpn down", "printer jammed", "mail lost", "vpn vpn down", "lost printer"]
WEIGHTS = [1.0, -0.5, 0.2]


def expected(tokenizer, weights, temperature=1.0):
    """The linear graph's probabilities computed in numpy."""
    totals = np.array([sum(tokenizer.encode([text])["input_ids"][0]) / 100 for text in TEXTS])
    logits = totals[:, None] * np.array(weights)[None, :] / temperature
    return np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)


def test_compare_variant_reports_every_number_of_a_faithful_graph(word_tokenizer, tmp_path):
    path = linear_graph(tmp_path / "model.fp32.onnx", WEIGHTS)
    reference = expected(word_tokenizer, WEIGHTS)
    targets = reference.argmax(axis=1)
    result = compare_variant("fp32", path, reference, word_tokenizer, TEXTS, targets, labels=LABELS, policy=POLICY)
    assert result["passed"] and result["failures"] == [] and result["file"] == "model.fp32.onnx"
    assert result["examples"] == 5 and result["top1_agreement"] == 1.0 and result["review_agreement"] == 1.0
    assert result["mean_probability_difference"] < 1e-6 and result["max_probability_difference"] < 1e-5
    assert result["macro_f1"] == 1.0 and result["macro_f1_difference"] == 0.0
    assert result["gate"] == {"top1_agreement": 0.999, "mean_probability_difference": 1e-4, "review_agreement": 0.999}
    assert result["novelty_tie_band"] == 1e-4
    assert result["provider"] == "CPUExecutionProvider" and result["size_mb"] == 0.0


def test_compare_variant_reports_size_and_macro_f1_difference_of_a_wrong_graph(word_tokenizer, tmp_path):
    from sklearn.metrics import f1_score

    reversed_weights = WEIGHTS[::-1]
    path = linear_graph(tmp_path / "model.int8.onnx", reversed_weights, padding_bytes=3 * 2**19)
    reference = expected(word_tokenizer, WEIGHTS)
    targets = reference.argmax(axis=1)
    result = compare_variant("int8", path, reference, word_tokenizer, TEXTS, targets, labels=LABELS, policy=POLICY)
    variant = expected(word_tokenizer, reversed_weights)
    assert result["size_mb"] == 1.5
    assert result["macro_f1"] == pytest.approx(f1_score(targets, variant.argmax(1), average="macro"))
    assert result["macro_f1_difference"] == pytest.approx(result["macro_f1"] - 1.0) and result["macro_f1"] < 0.5
    assert result["max_probability_difference"] == pytest.approx(np.abs(variant - reference).max(), abs=1e-6)
    assert not result["passed"] and result["top1_agreement"] == pytest.approx((variant.argmax(1) == targets).mean())


def test_compare_variant_fails_a_graph_with_another_temperature(word_tokenizer, tmp_path):
    path = linear_graph(tmp_path / "model.fp32.onnx", WEIGHTS, temperature=0.2)
    reference = expected(word_tokenizer, WEIGHTS)
    result = compare_variant("fp32", path, reference, word_tokenizer, TEXTS, None, labels=LABELS, policy=POLICY)
    assert result["top1_agreement"] == 1.0 and not result["passed"]
    assert result["max_probability_difference"] == pytest.approx(
        np.abs(expected(word_tokenizer, WEIGHTS, 0.2) - reference).max(), abs=1e-6
    )
    assert "macro_f1" not in result
    assert result["failures"][0].startswith("mean probability difference")


def test_an_unavailable_provider_is_named(word_tokenizer, tmp_path):
    path = linear_graph(tmp_path / "model.fp32.onnx", WEIGHTS)
    with pytest.raises(TicketClassifierError, match="CUDAExecutionProvider is not available here"):
        compare_variant(
            "fp32", path, expected(word_tokenizer, WEIGHTS), word_tokenizer, TEXTS, None,
            labels=LABELS, policy=POLICY, provider="CUDAExecutionProvider",
        )  # fmt: skip


def test_the_gates_are_the_documented_ones():
    # docs/testing.md and build/parity.py state these; changing one is a decision, not a refactor
    assert GATES == {
        "fp32": Gate(top1_agreement=0.999, mean_probability_difference=1e-4, review_agreement=0.999),
        "fp16": Gate(top1_agreement=0.999, mean_probability_difference=1e-3, review_agreement=0.995),
        "int8": Gate(top1_agreement=0.99, mean_probability_difference=1e-2, review_agreement=0.98),
    }
    assert NOVELTY_TIE_BANDS == {"fp32": 1e-4, "fp16": 1e-2, "int8": 0.0}


def test_probabilities_come_back_for_every_text_across_batches(word_tokenizer, tmp_path):
    from ticket_classifier.build.parity import BATCH_SIZE, onnx_probabilities

    path = linear_graph(tmp_path / "model.onnx", WEIGHTS)
    texts = [TEXTS[index % len(TEXTS)] for index in range(2 * BATCH_SIZE + 3)]
    probabilities = onnx_probabilities(path, word_tokenizer, texts)
    assert probabilities.shape == (len(texts), 3)
    rows = {text: row for text, row in zip(TEXTS, expected(word_tokenizer, WEIGHTS))}
    np.testing.assert_allclose(probabilities, np.array([rows[text] for text in texts]), atol=1e-6)
