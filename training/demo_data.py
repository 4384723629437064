"""Deterministic synthetic service-desk tickets for the demo and monitoring tests.

``generate_tickets`` builds a realistic, seeded stream of IT service-desk
tickets (subject + free-text description + category) and ``write_demo_csv``
writes it as a CSV with the columns in :data:`COLUMNS`. The text comes from
per-category subject and sentence templates whose slots (devices,
applications, buildings, error codes, people, servers, times, ...) are filled
at random, wrapped in optional greetings and sign-offs and sprinkled with a
few typos. Some tickets carry a remark that belongs to another category and
some describe a problem two teams could own (a printer unreachable on the
network, an Outlook login failure, ...), so a text classifier lands around
90-95 % accuracy rather than 100 %.

With ``drifted=True`` the stream imitates later production traffic: the
category mix shifts (:data:`DRIFTED_CATEGORY_SHARES`: more Security and
Network, much less Software), new products and phrasings appear (a VPN client
migration to Zscaler, an MFA/phishing wave with Okta Verify and QR codes, new
applications such as Workday or Copilot) and, by default, the timestamps
start right after the normal nine-month period.

Same arguments always give the same tickets (and a byte-identical CSV).
"""

from __future__ import annotations

import calendar
import csv
import datetime
import json
import os
import pathlib
import random
import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import astuple, dataclass
from types import MappingProxyType

__all__ = [
    "CATEGORIES",
    "CATEGORY_SHARES",
    "COLUMNS",
    "DRIFTED_CATEGORY_SHARES",
    "DemoTicket",
    "generate_tickets",
    "write_demo_csv",
]

CATEGORIES: tuple[str, ...] = (
    "Network",
    "Hardware",
    "Software",
    "Access",
    "Database",
    "Security",
    "Email",
    "Printing",
)

#: Base class weights of the normal stream; largest / smallest = 15.
CATEGORY_SHARES: Mapping[str, float] = MappingProxyType(
    {
        "Network": 16.0,
        "Hardware": 13.0,
        "Software": 30.0,
        "Access": 22.0,
        "Database": 3.0,
        "Security": 5.0,
        "Email": 9.0,
        "Printing": 2.0,
    }
)

#: Class weights of the drifted stream: Security and Network up, Software down.
DRIFTED_CATEGORY_SHARES: Mapping[str, float] = MappingProxyType(
    {
        "Network": 24.0,
        "Hardware": 10.0,
        "Software": 6.0,
        "Access": 18.0,
        "Database": 4.0,
        "Security": 22.0,
        "Email": 12.0,
        "Printing": 4.0,
    }
)

COLUMNS: tuple[str, ...] = ("ticket_id", "created_at", "subject", "description", "category")

_DEFAULT_START = datetime.date(2025, 1, 1)
_DEFAULT_MONTHS = 9
_TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S"


@dataclass(frozen=True)
class DemoTicket:
    """One synthetic ticket; field order matches :data:`COLUMNS`."""

    ticket_id: str
    created_at: str
    subject: str
    description: str
    category: str


@dataclass(frozen=True)
class _Issue:
    """One kind of problem: subject phrasings and matching description openers."""

    subjects: tuple[str, ...]
    bodies: tuple[str, ...]


@dataclass(frozen=True)
class _CategoryText:
    """Templates for one category; ``drift_issues`` only occur in the drifted stream."""

    issues: tuple[_Issue, ...]
    details: tuple[str, ...]
    asides: tuple[str, ...]
    drift_issues: tuple[_Issue, ...]


# ------------------------------------------------------------------------ templates
# The wording lives in demo_templates.json beside this file: the slot pools (people,
# devices, applications, buildings ...; ``drift_slots`` extend or replace some of them in
# the drifted stream), each category's issues, details and asides, the borderline issues
# two teams could own, and the sentences that fit any ticket.


def _issue(entry: Mapping[str, Sequence[str]]) -> _Issue:
    """An issue from its JSON entry."""
    return _Issue(tuple(entry["subjects"]), tuple(entry["bodies"]))


def _category_text(entry: Mapping[str, Sequence]) -> _CategoryText:
    """A category's templates from its JSON entry."""
    return _CategoryText(
        issues=tuple(_issue(issue) for issue in entry["issues"]),
        details=tuple(entry["details"]),
        asides=tuple(entry["asides"]),
        drift_issues=tuple(_issue(issue) for issue in entry["drift_issues"]),
    )


_TEMPLATES = json.loads(pathlib.Path(__file__).with_name("demo_templates.json").read_text(encoding="utf-8"))
_SLOTS: Mapping[str, tuple[str, ...]] = {name: tuple(values) for name, values in _TEMPLATES["slots"].items()}
_DRIFT_SLOTS: Mapping[str, tuple[str, ...]] = {
    name: (_SLOTS[name] if entry["extends"] else ()) + tuple(entry["values"])
    for name, entry in _TEMPLATES["drift_slots"].items()
}
_TEXT: Mapping[str, _CategoryText] = {name: _category_text(entry) for name, entry in _TEMPLATES["categories"].items()}
_BORDERLINE = tuple((tuple(entry["owners"]), _issue(entry)) for entry in _TEMPLATES["borderline"])
_TRIED, _IMPACT, _CONTACT = (tuple(_TEMPLATES[key]) for key in ("tried", "impact", "contact"))
_GENERIC_EXTRAS = (_TRIED, _IMPACT, _CONTACT)
_VAGUE_BODIES = tuple(_TEMPLATES["vague_bodies"])
_GENERIC_SUBJECTS = tuple(_TEMPLATES["generic_subjects"])
_GREETINGS = tuple(_TEMPLATES["greetings"])
_SIGN_OFFS = tuple(_TEMPLATES["sign_offs"])
_SUBJECT_PREFIXES = tuple(_TEMPLATES["subject_prefixes"])
if tuple(_TEXT) != CATEGORIES:
    raise RuntimeError(f"demo_templates.json has categories {tuple(_TEXT)}, expected {CATEGORIES}")

_HOUR_WEIGHTS = {8: 6, 9: 10, 10: 11, 11: 10, 12: 6, 13: 8, 14: 10, 15: 9, 16: 7, 17: 4}
_WEEKDAY_WEIGHTS = (1.0, 1.0, 1.0, 1.0, 0.95, 0.15, 0.1)  # Monday .. Sunday
_ASIDE_RATE = 0.22  # share of descriptions with a remark that belongs to another category
_BORDERLINE_RATE = 0.15  # share of tickets about a problem another team could own as well
_TYPO_WORD = re.compile(r"[A-Za-z]{4,}")


# ----------------------------------------------------------------------- helpers


def _check_positive_int(name: str, value: object) -> None:
    """Raise a one-line ValueError naming the argument unless ``value`` is an int >= 1."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _add_months(day: datetime.date, months: int) -> datetime.date:
    """Shift ``day`` by whole months, clamping the day of month (Jan 31 + 1 -> Feb 28)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return datetime.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _quotas(shares: Mapping[str, float], n_rows: int) -> dict[str, int]:
    """Split ``n_rows`` over the categories in proportion to ``shares`` (largest remainder)."""
    total = sum(shares.values())
    exact = {cat: shares[cat] * n_rows / total for cat in CATEGORIES}
    counts = {cat: int(value) for cat, value in exact.items()}
    by_remainder = sorted(CATEGORIES, key=lambda cat: (counts[cat] - exact[cat], CATEGORIES.index(cat)))
    for cat in by_remainder[: n_rows - sum(counts.values())]:
        counts[cat] += 1
    return counts


def _timestamps(rng: random.Random, n_rows: int, start: datetime.date, end: datetime.date) -> list[str]:
    """Draw ``n_rows`` sorted timestamps in [start, end): weekdays and office hours dominate."""
    days = [start + datetime.timedelta(days=i) for i in range((end - start).days)]
    day_weights = [_WEEKDAY_WEIGHTS[day.weekday()] for day in days]
    hours, hour_weights = list(_HOUR_WEIGHTS), list(_HOUR_WEIGHTS.values())
    stamps = []
    for day in rng.choices(days, weights=day_weights, k=n_rows):
        if day.weekday() < 5 and rng.random() < 0.9:
            hour = rng.choices(hours, weights=hour_weights)[0]
        else:
            hour = rng.randrange(24)
        moment = datetime.datetime.combine(day, datetime.time(hour, rng.randrange(60)))
        stamps.append(moment.strftime(_TIMESTAMP_FORMAT))
    return sorted(stamps)


class _SlotFiller:
    """Fills ``{slot}`` templates for one ticket; a slot keeps its value across the ticket."""

    def __init__(self, rng: random.Random, pools: Mapping[str, Sequence[str]]) -> None:
        self._rng = rng
        self._pools = pools
        self._values: dict[str, str] = {}

    def __call__(self, template: str) -> str:
        """Return ``template`` with every slot replaced by the ticket's value for it."""
        for _, name, _, _ in string.Formatter().parse(template):
            if name and name not in self._values:
                self._values[name] = self._rng.choice(self._pools[name])
        return template.format_map(self._values)


def _misspell(rng: random.Random, word: str) -> str:
    """Return ``word`` with one swapped, dropped or doubled letter (never the first one)."""
    i = rng.randrange(1, len(word) - 1)
    kind = rng.choice(("swap", "drop", "double"))
    if kind == "swap" and word[i] != word[i + 1]:
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if kind == "drop":
        return word[:i] + word[i + 1 :]
    return word[:i] + word[i] + word[i:]


def _add_typos(rng: random.Random, text: str, rate: float) -> str:
    """Misspell each word of four or more letters with probability ``rate``."""
    return _TYPO_WORD.sub(lambda m: _misspell(rng, m.group()) if rng.random() < rate else m.group(), text)


def _subject(rng: random.Random, fill: _SlotFiller, issue: _Issue) -> str:
    """Build a subject line: mostly specific, sometimes generic, prefixed or oddly cased."""
    template = rng.choice(_GENERIC_SUBJECTS if rng.random() < 0.05 else issue.subjects)
    subject = fill(template)
    if rng.random() < 0.06:
        subject = fill(rng.choice(_SUBJECT_PREFIXES)) + subject
    if rng.random() < 0.05:
        subject = _add_typos(rng, subject, 0.3)
    casing = rng.random()
    if casing < 0.04:
        return subject.upper()
    if casing < 0.11:
        return subject.lower()
    return subject


def _body_sentences(rng: random.Random, details: Sequence[str], issue: _Issue) -> list[str]:
    """Pick the sentence templates of a description: one-liner, a few sentences or a paragraph."""
    core = rng.choice(_VAGUE_BODIES if rng.random() < 0.04 else issue.bodies)
    length = rng.random()
    if length < 0.2:
        return [core]
    if length < 0.7:
        sentences = [core, rng.choice(details)]
        if rng.random() < 0.5:
            sentences.append(rng.choice(rng.choice(_GENERIC_EXTRAS)))
        return sentences
    return [core, *rng.sample(details, k=4), *(rng.choice(pool) for pool in _GENERIC_EXTRAS)]


def _description(rng: random.Random, fill: _SlotFiller, topic: str, issue: _Issue) -> str:
    """Build a description about ``topic``: body sentences, maybe an aside from another
    category, greeting, sign-off and typos."""
    sentences = _body_sentences(rng, _TEXT[topic].details, issue)
    if rng.random() < _ASIDE_RATE:
        other = rng.choice([cat for cat in CATEGORIES if cat != topic])
        sentences.insert(rng.randrange(1, len(sentences) + 1), rng.choice(_TEXT[other].asides))
    body = " ".join(fill(sentence) for sentence in sentences)
    if len(sentences) == 1 and rng.random() < 0.3:
        body = body.rstrip(".")
    if rng.random() < 0.4:
        body = fill(rng.choice(_GREETINGS)) + body
    if rng.random() < 0.4:
        body += fill(rng.choice(_SIGN_OFFS))
    if rng.random() < 0.25:
        body = _add_typos(rng, body, 0.04)
    return body


def _ticket_text(
    rng: random.Random, category: str, drifted: bool, pools: Mapping[str, Sequence[str]]
) -> tuple[str, str]:
    """Return (subject, description) of one ticket.

    Some tickets are about a borderline problem shared with another category,
    worded like a ticket of either one; drifted tickets use the drift-only
    issues about half of the time.
    """
    topic = category
    if rng.random() < _BORDERLINE_RATE:
        owners, issue = rng.choice([entry for entry in _BORDERLINE if category in entry[0]])
        topic = rng.choice(owners)
    else:
        text = _TEXT[category]
        issue = rng.choice(text.drift_issues if drifted and rng.random() < 0.5 else text.issues)
    fill = _SlotFiller(rng, pools)
    return _subject(rng, fill, issue), _description(rng, fill, topic, issue)


# --------------------------------------------------------------------------- API


def generate_tickets(
    n_rows: int = 3000,
    *,
    seed: int = 13,
    drifted: bool = False,
    start: datetime.date | None = None,
    months: int = 9,
) -> list[DemoTicket]:
    """Generate ``n_rows`` synthetic tickets sorted by ``created_at``.

    Categories follow :data:`CATEGORY_SHARES` (or :data:`DRIFTED_CATEGORY_SHARES`
    when ``drifted``) as exact quotas in random order; timestamps lie in
    ``[start, start + months)``. ``start`` defaults to 2025-01-01 for the normal
    stream and to 2025-10-01 (right after the default nine-month normal period)
    for the drifted one. Ticket ids are sequential (``TCK-000001``, ...) in time
    order. Raises ValueError if ``n_rows`` or ``months`` is not a positive int.
    """
    _check_positive_int("n_rows", n_rows)
    _check_positive_int("months", months)
    if start is None:
        start = _add_months(_DEFAULT_START, _DEFAULT_MONTHS) if drifted else _DEFAULT_START
    elif not isinstance(start, datetime.date) or isinstance(start, datetime.datetime):
        raise ValueError(f"start must be a datetime.date, got {start!r}")

    rng = random.Random(f"demo-tickets:{seed}:{'drifted' if drifted else 'normal'}")
    pools = {**_SLOTS, **_DRIFT_SLOTS} if drifted else _SLOTS
    counts = _quotas(DRIFTED_CATEGORY_SHARES if drifted else CATEGORY_SHARES, n_rows)
    labels = [cat for cat in CATEGORIES for _ in range(counts[cat])]
    rng.shuffle(labels)
    stamps = _timestamps(rng, n_rows, start, _add_months(start, months))
    texts = [_ticket_text(rng, category, drifted, pools) for category in labels]
    return [
        DemoTicket(f"TCK-{number:06d}", created_at, subject, description, category)
        for number, (created_at, category, (subject, description)) in enumerate(zip(stamps, labels, texts), start=1)
    ]


def write_demo_csv(
    path: str | os.PathLike[str],
    n_rows: int = 3000,
    *,
    seed: int = 13,
    drifted: bool = False,
    start: datetime.date | None = None,
    months: int = 9,
) -> pathlib.Path:
    """Write the tickets of :func:`generate_tickets` to ``path`` as a CSV and return the path.

    UTF-8, a header row with :data:`COLUMNS`, minimal quoting (fields with
    commas, quotes or newlines are quoted) and ``\\n`` line endings; parent
    folders are created. Same arguments give a byte-identical file.
    """
    tickets = generate_tickets(n_rows, seed=seed, drifted=drifted, start=start, months=months)
    target = pathlib.Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
        writer.writerow(COLUMNS)
        writer.writerows(astuple(ticket) for ticket in tickets)
    return target
