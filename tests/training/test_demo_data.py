"""Tests for the synthetic demo ticket generator."""

from __future__ import annotations

import csv
import dataclasses
import datetime
import hashlib
import json
import re
from collections import Counter
from pathlib import Path

import pytest

from ticket_classifier.training.demo_data import (
    CATEGORIES,
    CATEGORY_SHARES,
    COLUMNS,
    DRIFTED_CATEGORY_SHARES,
    DemoTicket,
    generate_tickets,
    write_demo_csv,
)

_WORD = re.compile(r"[a-z]+")


@pytest.fixture(scope="module")
def normal() -> list[DemoTicket]:
    """The default 3,000-row normal stream."""
    return generate_tickets()


@pytest.fixture(scope="module")
def drifted() -> list[DemoTicket]:
    """A 3,000-row drifted stream."""
    return generate_tickets(drifted=True)


def _read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _shares(tickets: list[DemoTicket]) -> dict[str, float]:
    counts = Counter(ticket.category for ticket in tickets)
    return {cat: counts[cat] / len(tickets) for cat in CATEGORIES}


def _words(tickets: list[DemoTicket]) -> set[str]:
    return {word for t in tickets for word in _WORD.findall(f"{t.subject} {t.description}".lower())}


def _typo_variants(word: str) -> set[str]:
    """Every single swap, drop or doubling of an inner letter, as the generator makes them."""
    variants = set()
    for i in range(1, len(word) - 1):
        variants.add(word[:i] + word[i + 1] + word[i] + word[i + 2 :])
        variants.add(word[:i] + word[i + 1 :])
        variants.add(word[:i] + word[i] + word[i:])
    variants.discard(word)
    return variants


def test_public_constants() -> None:
    assert COLUMNS == ("ticket_id", "created_at", "subject", "description", "category")
    assert CATEGORIES == ("Network", "Hardware", "Software", "Access", "Database", "Security", "Email", "Printing")
    assert set(CATEGORY_SHARES) == set(CATEGORIES) == set(DRIFTED_CATEGORY_SHARES)
    assert [field.name for field in dataclasses.fields(DemoTicket)] == list(COLUMNS)


def test_same_seed_gives_byte_identical_csv_and_other_seed_differs(tmp_path: Path) -> None:
    first = write_demo_csv(tmp_path / "a.csv", 300, seed=5)
    second = write_demo_csv(tmp_path / "b.csv", 300, seed=5)
    other = write_demo_csv(tmp_path / "c.csv", 300, seed=6)
    assert first.read_bytes() == second.read_bytes()
    assert first.read_bytes() != other.read_bytes()


def test_drifted_flag_changes_the_data(tmp_path: Path) -> None:
    normal_csv = write_demo_csv(tmp_path / "n.csv", 200)
    drifted_csv = write_demo_csv(tmp_path / "d.csv", 200, drifted=True)
    assert normal_csv.read_bytes() != drifted_csv.read_bytes()


def test_csv_round_trips_with_header_in_order(tmp_path: Path, normal: list[DemoTicket]) -> None:
    path = write_demo_csv(tmp_path / "nested" / "dir" / "demo.csv")
    assert isinstance(path, Path) and path.is_file()
    with path.open(encoding="utf-8", newline="") as handle:
        assert next(csv.reader(handle)) == list(COLUMNS)
    rows = _read_rows(path)
    assert [DemoTicket(**row) for row in rows] == normal
    # The round trip is meaningful: fields needing quotes really occur.
    descriptions = [row["description"] for row in rows]
    assert any("\n" in text for text in descriptions)
    assert any('"' in text for text in descriptions)
    assert any("," in text for text in descriptions)


def test_write_accepts_str_path(tmp_path: Path) -> None:
    path = write_demo_csv(str(tmp_path / "demo.csv"), 10)
    assert len(_read_rows(path)) == 10


def test_row_count_ids_and_categories(normal: list[DemoTicket]) -> None:
    assert len(normal) == 3000
    assert [t.ticket_id for t in normal] == [f"TCK-{i:06d}" for i in range(1, 3001)]
    assert {t.category for t in normal} == set(CATEGORIES)
    assert all(t.subject.strip() and t.description.strip() for t in normal)


def test_class_imbalance_and_shares(normal: list[DemoTicket]) -> None:
    counts = Counter(t.category for t in normal)
    ratio = max(counts.values()) / min(counts.values())
    assert 10 <= ratio <= 20
    assert counts.most_common(1)[0][0] in {"Software", "Access"}
    assert min(counts, key=counts.__getitem__) in {"Printing", "Database"}
    total = sum(CATEGORY_SHARES.values())
    for cat, share in _shares(normal).items():
        assert share == pytest.approx(CATEGORY_SHARES[cat] / total, abs=0.01)


def test_timestamps_sorted_within_period_and_mostly_office_hours(normal: list[DemoTicket]) -> None:
    stamps = [datetime.datetime.fromisoformat(t.created_at) for t in normal]
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", t.created_at) for t in normal)
    assert stamps == sorted(stamps)
    assert stamps[0] >= datetime.datetime(2025, 1, 1)
    assert stamps[-1] < datetime.datetime(2025, 10, 1)
    assert stamps[-1] - stamps[0] >= datetime.timedelta(days=6 * 30)
    weekdays = sum(stamp.weekday() < 5 for stamp in stamps) / len(stamps)
    office = sum(8 <= stamp.hour < 18 for stamp in stamps) / len(stamps)
    assert weekdays > 0.9
    assert office > 0.8


def test_start_and_months_define_the_period() -> None:
    tickets = generate_tickets(200, start=datetime.date(2024, 11, 15), months=2)
    stamps = [datetime.datetime.fromisoformat(t.created_at) for t in tickets]
    assert min(stamps) >= datetime.datetime(2024, 11, 15)
    assert max(stamps) < datetime.datetime(2025, 1, 15)


def test_text_is_varied(normal: list[DemoTicket]) -> None:
    subjects = {t.subject for t in normal}
    descriptions = {t.description for t in normal}
    assert len(subjects) > 1000
    assert len(descriptions) > 2800
    lengths = [len(t.description.split()) for t in normal]
    assert min(lengths) < 12
    assert max(lengths) >= 80
    assert any(t.subject.isupper() for t in normal)
    assert any(t.subject.islower() for t in normal)


def test_some_rows_contain_typos(normal: list[DemoTicket]) -> None:
    # A typo is a rare token that is one swap/drop/doubling away from a frequent word
    # (rarity keeps real words such as "back" vs "black" out; without typos this finds 0 rows).
    word_counts = Counter(w for t in normal for w in _WORD.findall(t.description.lower()))
    common = {word for word, count in word_counts.items() if count >= 20 and len(word) >= 5}
    typos = {variant for word in common for variant in _typo_variants(word) if word_counts[variant] <= 3}
    rows_with_typos = sum(bool(typos & set(_WORD.findall(t.description.lower()))) for t in normal)
    assert 0.05 * len(normal) < rows_with_typos < 0.5 * len(normal)


def test_drifted_category_mix_differs(normal: list[DemoTicket], drifted: list[DemoTicket]) -> None:
    before, after = _shares(normal), _shares(drifted)
    total_variation = sum(abs(before[cat] - after[cat]) for cat in CATEGORIES) / 2
    assert total_variation > 0.2
    assert after["Security"] > 2 * before["Security"]
    assert after["Network"] > before["Network"]
    assert after["Software"] < before["Software"] / 2
    assert {t.category for t in drifted} == set(CATEGORIES)


def test_drifted_stream_brings_new_vocabulary(normal: list[DemoTicket], drifted: list[DemoTicket]) -> None:
    normal_words = _words(normal)
    for term in ("zscaler", "okta", "quishing", "workday", "snowflake", "uniflow"):
        assert term not in normal_words
        assert term in _words(drifted)
    drifted_texts = [f"{t.subject} {t.description}".lower() for t in drifted]
    assert sum("zscaler" in text or "okta" in text for text in drifted_texts) > 100


def test_drifted_timestamps_follow_normal_period(normal: list[DemoTicket], drifted: list[DemoTicket]) -> None:
    assert min(t.created_at for t in drifted) > max(t.created_at for t in normal)
    assert [t.created_at for t in drifted] == sorted(t.created_at for t in drifted)
    assert drifted[0].ticket_id == "TCK-000001"


def test_small_n_rows() -> None:
    tickets = generate_tickets(1)
    assert len(tickets) == 1
    assert tickets[0].ticket_id == "TCK-000001"


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"n_rows": 0}, "n_rows"),
        ({"n_rows": -5}, "n_rows"),
        ({"n_rows": 2.5}, "n_rows"),
        ({"n_rows": "100"}, "n_rows"),
        ({"n_rows": True}, "n_rows"),
        ({"months": 0}, "months"),
        ({"months": -1}, "months"),
        ({"start": "2025-01-01"}, "start"),
    ],
)
def test_bad_arguments_raise_value_error(kwargs: dict[str, object], name: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=name) as excinfo:
        generate_tickets(**kwargs)  # type: ignore[arg-type]
    assert "\n" not in str(excinfo.value)
    with pytest.raises(ValueError, match=name):
        write_demo_csv(tmp_path / "x.csv", **kwargs)  # type: ignore[arg-type]
    assert not (tmp_path / "x.csv").exists()


# SHA-256 of the CSVs before the templates moved into demo_templates.json (issue 13): the data
# file changed nothing. A deliberate change of the wording changes these too.
RECORDED_DIGESTS = {
    (3000, 13, False): "fca8f6e60ab10ea59b753f4358abab0732c4f514cdf3f6cdb0c311cceb863b01",
    (3000, 13, True): "9a5ca4eaba82a0fb93ed16bce731ef62b3599c01eb115233337ecfc17e64cb04",
    (500, 5, False): "fbbf8194e83d26b338e6ccaeb2ba6c4846fef0791675826829f7610c087a1f1a",
}


@pytest.mark.parametrize("rows, seed, drifted", sorted(RECORDED_DIGESTS))
def test_the_generator_s_output_is_byte_identical_to_the_recorded_one(tmp_path, rows, seed, drifted):
    path = write_demo_csv(tmp_path / "tickets.csv", rows, seed=seed, drifted=drifted)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == RECORDED_DIGESTS[rows, seed, drifted]


def test_the_templates_are_a_data_file_beside_the_generator():
    import ticket_classifier.training.demo_data as demo_data

    templates = Path(demo_data.__file__).with_name("demo_templates.json")
    data = json.loads(templates.read_text(encoding="utf-8"))
    assert list(data["categories"]) == list(CATEGORIES)
    assert len(Path(demo_data.__file__).read_text(encoding="utf-8").splitlines()) < 400
