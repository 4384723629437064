"""The text-joining function shared by training and serving."""

import pytest

from ticket_classifier.runtime.text import RejectedTicket, check_sizes, join_ticket_text, normalize_text, ticket_text


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


def test_invisible_characters_are_removed():
    assert normalize_text("VPN\u200b down\x00\x07 now\ufeff") == "VPN down now"
    assert normalize_text("ok \ufffd") == "ok"
    assert normalize_text("Überweisung 😀") == "Überweisung 😀"


@pytest.mark.parametrize("fields", [["\u200b\u200c\u200d", "\x00\x00"], ["\ufeff", "\x1b\x07 \t"], ["", "\ufffd"]])
def test_a_ticket_of_only_invisible_characters_has_no_text(fields):
    assert join_ticket_text(fields) == ""
    with pytest.raises(RejectedTicket, match="have no text") as caught:
        ticket_text([field.encode() for field in fields], ["SUBJECT", "DESCRIPTION"], 0)
    assert caught.value.reason == "empty"


def test_ticket_text_decodes_and_joins():
    assert ticket_text([b"VPN down", "caf\u00e9".encode()], ["SUBJECT", "DESCRIPTION"], 0) == "VPN down. caf\u00e9"


def test_undecodable_bytes_are_refused_naming_the_field():
    with pytest.raises(RejectedTicket, match="ticket 3: DESCRIPTION is not valid UTF-8") as caught:
        ticket_text([b"ok", b"\xff\xfe"], ["SUBJECT", "DESCRIPTION"], 3)
    assert caught.value.reason == "not_utf8"


def test_sizes_are_checked_per_field_and_per_request():
    names = ["SUBJECT", "DESCRIPTION"]
    check_sizes([[b"a" * 10, b"b" * 10]] * 3, names, max_field_bytes=10, max_request_bytes=60)
    with pytest.raises(RejectedTicket, match="ticket 1: DESCRIPTION is 11 bytes, over the limit of 10 bytes"):
        check_sizes([[b"a", b"b"], [b"a", b"b" * 11]], names, max_field_bytes=10, max_request_bytes=100)
    with pytest.raises(RejectedTicket, match="request of 61 bytes is over the limit of 60 bytes") as caught:
        check_sizes([[b"a" * 10, b"b" * 10]] * 3 + [[b"c", b""]], names, max_field_bytes=10, max_request_bytes=60)
    assert caught.value.reason == "too_large"
