"""The text-joining function shared by training and serving."""

from ticket_classifier.text import join_ticket_text, normalize_text


def test_fields_are_joined_as_sentences():
    assert join_ticket_text(["VPN down", "Cannot connect"]) == "VPN down. Cannot connect"


def test_existing_sentence_end_is_kept():
    assert join_ticket_text(["Help!", "Printer broken."]) == "Help! Printer broken."


def test_empty_and_missing_fields_are_skipped():
    assert join_ticket_text(["", "only the body"]) == "only the body"
    assert join_ticket_text([None, "  body  "]) == "body"
    assert join_ticket_text(["", None]) == ""


def test_whitespace_and_unicode_are_normalised():
    assert normalize_text("  a\n\tb\u00a0c  ") == "a b c"
    assert normalize_text("ﬁle") == "file"
