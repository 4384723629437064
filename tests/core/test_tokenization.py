"""TicketTokenizer: identical ids to the Hugging Face tokenizer, bucketed padding."""

import numpy as np
import pytest
from transformers import AutoTokenizer

from ticket_classifier.tokenization import TicketTokenizer
from ticket_classifier.training.encoder import resolve_encoder

TEXTS = ["VPN down. Cannot connect from home", "Printer jammed", "x " * 300]


@pytest.fixture(scope="module")
def hf_tokenizer():
    return AutoTokenizer.from_pretrained(resolve_encoder("minilm"))


def make(hf_tokenizer, names=("input_ids", "attention_mask", "token_type_ids")):
    return TicketTokenizer(hf_tokenizer.backend_tokenizer, input_names=names, max_length=64, length_buckets=[16, 32])


def test_ids_equal_the_hugging_face_tokenizer(hf_tokenizer):
    ours = make(hf_tokenizer).encode(TEXTS, bucketed=False)
    theirs = hf_tokenizer(TEXTS, truncation=True, max_length=64, padding=True, return_tensors="np")
    for name in ("input_ids", "attention_mask", "token_type_ids"):
        np.testing.assert_array_equal(ours[name], theirs[name])


def test_padding_goes_to_the_smallest_bucket(hf_tokenizer):
    tokenizer = make(hf_tokenizer)
    assert tokenizer.length_buckets == (16, 32, 64)
    assert tokenizer.encode(["Printer jammed"])["input_ids"].shape == (1, 16)
    assert tokenizer.encode(["word " * 20])["input_ids"].shape == (1, 32)
    assert tokenizer.encode(["word " * 500])["input_ids"].shape == (1, 64)


def test_groups_are_padded_separately_in_one_pass(hf_tokenizer):
    first, second = make(hf_tokenizer).encode_groups([["short"], ["word " * 20, "short"]])
    assert first["input_ids"].shape == (1, 16) and second["input_ids"].shape == (2, 32)
    np.testing.assert_array_equal(first["input_ids"][0], second["input_ids"][1][:16])


def test_distilbert_style_has_no_token_type_ids(hf_tokenizer):
    arrays = make(hf_tokenizer, ("input_ids", "attention_mask")).encode(TEXTS)
    assert set(arrays) == {"input_ids", "attention_mask"}


def test_save_and_load_round_trip(hf_tokenizer, tmp_path):
    tokenizer = make(hf_tokenizer)
    tokenizer.save(tmp_path)
    loaded = TicketTokenizer.from_directory(tmp_path)
    assert loaded.length_buckets == tokenizer.length_buckets and loaded.input_names == tokenizer.input_names
    np.testing.assert_array_equal(loaded.encode(TEXTS)["input_ids"], tokenizer.encode(TEXTS)["input_ids"])


def test_unknown_input_name_is_rejected(hf_tokenizer):
    with pytest.raises(ValueError, match="unsupported model input names"):
        make(hf_tokenizer, ("input_ids", "attention_mask", "pixel_values"))


def test_texts_are_cut_by_characters_before_tokenizing(hf_tokenizer):
    tokenizer = make(hf_tokenizer)
    assert tokenizer.max_characters == 64 * 32
    # One 3,000-character word, then a real word: only the cut makes "printer" disappear.
    long_word = "a" * 3000 + " printer"
    cut = tokenizer.encode([long_word], bucketed=False)["input_ids"][0]
    np.testing.assert_array_equal(cut, tokenizer.encode(["a" * 2048], bucketed=False)["input_ids"][0])
    assert hf_tokenizer.convert_tokens_to_ids("printer") not in cut
