"""Triton's product counters, scraped, made monotonic across restarts, and windowed.

The category counter gives counts per category; the confidence histogram gives cumulative
counts per bucket bound (``le``), kept as they are: a window is a difference of snapshots, and
:func:`bin_counts` turns a window's cumulative buckets into counts per bin.

:class:`CounterHistory` keeps cumulative counts per series. When a raw counter goes down
(Triton restarted and its counters began again at zero), the new raw value is taken as the
increment since the restart, so the cumulative counts never drop. Snapshots of the
cumulative counts give sliding windows: the last ``seconds`` or the last ``predictions``.
"""

import time
from collections import deque
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

from ticket_classifier.runtime.metrics import CONFIDENCE, PREDICTIONS, REVIEW_RULES

UNKNOWN_CATEGORY_RULE = "unknown_category"  # the review rule of runtime/review.py whose flags are a drift signal


@dataclass(frozen=True)
class Snapshot:
    """Cumulative counts at one moment."""

    at: float
    categories: dict[str, float]
    confidence_buckets: dict[str, float]
    unknown: float = 0.0  # tickets flagged unknown_category

    @property
    def total(self) -> float:
        """All predictions counted so far."""
        return sum(self.categories.values())


CONFIDENCE_BUCKET = CONFIDENCE + "_bucket"


def parse_product_counters(text: str, model_version: str | None = None) -> dict[tuple[str, str], float]:
    """``{(series, label): value}`` of the category counter (label: the category), of the confidence
    histogram's buckets (label: the bound ``le``) and of the unknown_category review rule, summed over
    model versions (or only ``model_version``)."""
    counters: dict[tuple[str, str], float] = {}
    label_of = {PREDICTIONS: "category", CONFIDENCE_BUCKET: "le", REVIEW_RULES: "rule"}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name not in label_of:
                continue
            if sample.name == REVIEW_RULES and sample.labels.get("rule") != UNKNOWN_CATEGORY_RULE:
                continue
            if model_version is not None and sample.labels.get("model_version") != model_version:
                continue
            label = sample.labels[label_of[sample.name]]
            key = (sample.name, label)
            counters[key] = counters.get(key, 0.0) + sample.value
    return counters


def bin_counts(buckets: dict[str, float], edges) -> list[float]:
    """Counts per confidence bin between consecutive ``edges`` from cumulative bucket counts keyed by ``le``
    (bounds are matched as numbers: ``0.1`` and ``0.10000000000000001`` are one bound)."""
    by_bound = {float(bound): value for bound, value in buckets.items()}
    cumulative = [
        next((value for bound, value in by_bound.items() if abs(bound - edge) < 1e-9), 0.0) for edge in edges[1:]
    ]
    return [high - low for low, high in zip([0.0, *cumulative[:-1]], cumulative)]


class CounterHistory:
    """Monotonic cumulative counts and their recent snapshots."""

    def __init__(self, max_age_s: float = 24 * 3600, max_snapshots: int = 20000) -> None:
        self.raw: dict[tuple[str, str], float] = {}
        self.cumulative: dict[tuple[str, str], float] = {}
        self.snapshots: deque[Snapshot] = deque(maxlen=max_snapshots)
        self.max_age_s = max_age_s
        self.resets = 0

    def update(self, counters: dict[tuple[str, str], float], now: float | None = None) -> Snapshot:
        """Fold in one scrape; a counter that went down counts as a restart."""
        now = time.time() if now is None else now
        restarted = any(value < self.raw.get(key, 0.0) for key, value in counters.items())
        if restarted:
            self.resets += 1
        for key, value in counters.items():
            previous = 0.0 if restarted else self.raw.get(key, 0.0)
            self.cumulative[key] = self.cumulative.get(key, 0.0) + max(value - previous, 0.0)
        self.raw = dict(counters)
        snapshot = Snapshot(
            at=now,
            categories={label: value for (metric, label), value in self.cumulative.items() if metric == PREDICTIONS},
            confidence_buckets={
                label: value for (metric, label), value in self.cumulative.items() if metric == CONFIDENCE_BUCKET
            },
            unknown=self.cumulative.get((REVIEW_RULES, UNKNOWN_CATEGORY_RULE), 0.0),
        )
        self.snapshots.append(snapshot)
        while self.snapshots and self.snapshots[0].at < now - self.max_age_s:
            self.snapshots.popleft()
        return snapshot

    def window_by_time(self, seconds: float) -> tuple[dict[str, float], dict[str, float], float]:
        """Counts of the last ``seconds`` (from the newest snapshot at least that old, else from the first)."""
        latest = self.snapshots[-1]
        return _difference(latest, self._newest_start(lambda snapshot: snapshot.at <= latest.at - seconds))

    def window_by_count(self, predictions: int) -> tuple[dict[str, float], dict[str, float], float]:
        """Counts of (about) the last ``predictions`` tickets, at scrape granularity."""
        latest = self.snapshots[-1]
        return _difference(latest, self._newest_start(lambda snapshot: snapshot.total <= latest.total - predictions))

    def _newest_start(self, far_enough) -> Snapshot:
        """The newest snapshot for which ``far_enough`` holds, else the oldest one kept."""
        return next((snapshot for snapshot in reversed(self.snapshots) if far_enough(snapshot)), self.snapshots[0])


def _difference(latest: Snapshot, start: Snapshot) -> tuple[dict[str, float], dict[str, float], float]:
    """What happened between two snapshots (categories, confidence buckets, unknown_category flags); the
    first scrape is the baseline (earlier history is not recent)."""
    categories = {label: value - start.categories.get(label, 0.0) for label, value in latest.categories.items()}
    buckets = {
        label: value - start.confidence_buckets.get(label, 0.0) for label, value in latest.confidence_buckets.items()
    }
    return categories, buckets, latest.unknown - start.unknown
