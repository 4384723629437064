"""TicketTokenizer: identical ids to the Hugging Face tokenizer, padding to the longest text or to buckets."""

import json

import numpy as np
import pytest
from transformers import AutoTokenizer

from ticket_classifier.runtime.tokenization import TicketTokenizer
from ticket_classifier.training.encoder import resolve_encoder

TEXTS = ["VPN down. Cannot connect from home", "Printer jammed", "x " * 300]


@pytest.fixture(scope="module")
def hf_tokenizer():
    return AutoTokenizer.from_pretrained(resolve_encoder("minilm"))


def make(hf_tokenizer, names=("input_ids", "attention_mask", "token_type_ids")):
    return TicketTokenizer(hf_tokenizer.backend_tokenizer, input_names=names, max_length=64)


def test_ids_equal_the_hugging_face_tokenizer(hf_tokenizer):
    ours = make(hf_tokenizer).encode(TEXTS)
    theirs = hf_tokenizer(TEXTS, truncation=True, max_length=64, padding=True, return_tensors="np")
    for name in ("input_ids", "attention_mask", "token_type_ids"):
        np.testing.assert_array_equal(ours[name], theirs[name])


BUCKETS = (16, 32)


def test_padding_goes_to_the_smallest_bucket_or_the_maximum_length(hf_tokenizer):
    tokenizer = make(hf_tokenizer)
    assert tokenizer.encode(["Printer jammed"], buckets=BUCKETS)["input_ids"].shape == (1, 16)
    assert tokenizer.encode(["word " * 20], buckets=BUCKETS)["input_ids"].shape == (1, 32)
    assert tokenizer.encode(["word " * 500], buckets=BUCKETS)["input_ids"].shape == (1, 64)
    assert tokenizer.encode(["word " * 20], buckets=(16, 128))["input_ids"].shape == (1, 64), "capped at max_length"


def test_without_buckets_padding_goes_to_the_longest_text(hf_tokenizer):
    arrays = make(hf_tokenizer).encode(["Printer jammed", "VPN down"])
    assert arrays["input_ids"].shape == (2, 5)  # [CLS] vp ##n down [SEP]


def test_groups_are_padded_separately_in_one_pass(hf_tokenizer):
    first, second = make(hf_tokenizer).encode_groups([["short"], ["word " * 20, "short"]], buckets=BUCKETS)
    assert first["input_ids"].shape == (1, 16) and second["input_ids"].shape == (2, 32)
    np.testing.assert_array_equal(first["input_ids"][0], second["input_ids"][1][:16])


def test_texts_are_batched_by_padded_length_and_keep_their_positions(hf_tokenizer):
    tokenizer = make(hf_tokenizer)
    texts = ["word " * 20, "short", "word " * 500, "also short"]
    batches = tokenizer.encode_by_length(texts, buckets=BUCKETS)
    assert [(rows.tolist(), arrays["input_ids"].shape) for rows, arrays in batches] == [
        ([1, 3], (2, 16)),
        ([0], (1, 32)),
        ([2], (1, 64)),
    ]
    for rows, arrays in batches:  # each row is its text's own encoding, in its bucket
        for row, ids in zip(rows.tolist(), arrays["input_ids"]):
            alone = tokenizer.encode([texts[row]], buckets=BUCKETS)["input_ids"][0]
            np.testing.assert_array_equal(ids, alone)
    ((rows, arrays),) = tokenizer.encode_by_length(texts[:2])
    assert rows.tolist() == [0, 1] and arrays["input_ids"].shape == (2, 22), "no buckets: one batch, the longest"


def test_distilbert_style_has_no_token_type_ids(hf_tokenizer):
    arrays = make(hf_tokenizer, ("input_ids", "attention_mask")).encode(TEXTS)
    assert set(arrays) == {"input_ids", "attention_mask"}


def test_save_and_load_round_trip(hf_tokenizer, tmp_path):
    tokenizer = make(hf_tokenizer)
    tokenizer.save(tmp_path)
    loaded = TicketTokenizer.from_directory(tmp_path)
    assert loaded.max_length == tokenizer.max_length and loaded.input_names == tokenizer.input_names
    np.testing.assert_array_equal(loaded.encode(TEXTS)["input_ids"], tokenizer.encode(TEXTS)["input_ids"])
    assert "length_buckets" not in json.loads((tmp_path / "ticket_tokenizer.json").read_text())


def test_an_old_checkpoint_s_length_buckets_are_read_and_ignored_with_a_warning(hf_tokenizer, tmp_path):
    make(hf_tokenizer).save(tmp_path)
    settings = tmp_path / "ticket_tokenizer.json"
    settings.write_text(json.dumps({**json.loads(settings.read_text()), "length_buckets": [16, 32, 64]}))
    with pytest.warns(FutureWarning, match="length_buckets is ignored.*repository.length_buckets"):
        loaded = TicketTokenizer.from_directory(tmp_path)
    assert loaded.encode(["Printer jammed"])["input_ids"].shape == (1, 4)


def test_unknown_input_name_is_rejected(hf_tokenizer):
    with pytest.raises(ValueError, match="unsupported model input names"):
        make(hf_tokenizer, ("input_ids", "attention_mask", "pixel_values"))


def test_texts_are_cut_by_characters_before_tokenizing(hf_tokenizer):
    tokenizer = make(hf_tokenizer)
    assert tokenizer.max_characters == 64 * 32
    # One 3,000-character word, then a real word: only the cut makes "printer" disappear.
    long_word = "a" * 3000 + " printer"
    cut = tokenizer.encode([long_word])["input_ids"][0]
    np.testing.assert_array_equal(cut, tokenizer.encode(["a" * 2048])["input_ids"][0])
    assert hf_tokenizer.convert_tokens_to_ids("printer") not in cut
