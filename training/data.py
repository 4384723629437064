"""The data contract: reading labelled tickets, checking them and splitting them.

Reads CSV or Parquet. Text columns are joined by :func:`ticket_classifier.runtime.text.join_ticket_text`
(the function the Triton tokenizer runs). Rows without text or label are dropped and counted;
labels with too few examples are an error; exact duplicate texts across splits are removed
from the later split and counted, so test never leaks into train. Every count ends up in a
:class:`DataReport` that training logs and stores.
"""

import hashlib
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from ticket_classifier.errors import TicketClassifierError
from ticket_classifier.runtime.text import join_ticket_text
from ticket_classifier.training.config import DataConfig

log = logging.getLogger(__name__)

PARQUET_SUFFIXES = (".parquet", ".pq")
REPLACEMENT_CHARACTER = "\ufffd"


@dataclass
class LabeledTexts:
    """Model-ready texts with their labels (and timestamps when the data has them)."""

    texts: list[str]
    labels: list[str]
    timestamps: list[pd.Timestamp] | None = None

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, indices) -> "LabeledTexts":
        """The rows at ``indices``, in that order."""
        return LabeledTexts(
            texts=[self.texts[i] for i in indices],
            labels=[self.labels[i] for i in indices],
            timestamps=None if self.timestamps is None else [self.timestamps[i] for i in indices],
        )


@dataclass
class DataReport:
    """Every count of what reading, checking and splitting did to the data."""

    files: list[str] = field(default_factory=list)
    rows_read: int = 0
    dropped_empty_text: int = 0
    dropped_empty_label: int = 0
    dropped_rare_labels: dict[str, int] = field(default_factory=dict)
    excluded_labels: dict[str, int] = field(default_factory=dict)
    rows_with_replaced_bytes: int = 0
    split: str = ""
    duplicates_removed: dict[str, int] = field(default_factory=dict)
    dropped_unseen_label: dict[str, int] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    train_label_counts: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict:
        """The report as plain JSON-ready data."""
        return asdict(self)

    def log(self) -> None:
        """State every count in the run log."""
        log.info("data: read %d rows from %s", self.rows_read, ", ".join(self.files))
        log.info(
            "data: dropped rows with an empty text: %d; with an empty label: %d",
            self.dropped_empty_text,
            self.dropped_empty_label,
        )
        if self.dropped_rare_labels:
            log.warning("data: dropped the rows of rare labels: %s", self.dropped_rare_labels)
        if self.excluded_labels:
            log.info("data: left out the rows of excluded labels (data.exclude_labels): %s", self.excluded_labels)
        if self.rows_with_replaced_bytes:
            log.warning("data: %d rows had undecodable bytes, replaced by U+FFFD", self.rows_with_replaced_bytes)
        log.info("data: %s split: %s", self.split, ", ".join(f"{k} {v}" for k, v in self.rows.items()))
        log.info(
            "data: exact duplicate texts removed from later splits: %s",
            ", ".join(f"{k} {v}" for k, v in self.duplicates_removed.items()),
        )
        if any(self.dropped_unseen_label.values()):
            log.warning("data: rows dropped for labels absent from train: %s", self.dropped_unseen_label)
        log.info("data: train label counts: %s", self.train_label_counts)


@dataclass
class DatasetSplits:
    """The three splits of one dataset, the label list (from train) and the report."""

    train: LabeledTexts
    validation: LabeledTexts
    test: LabeledTexts
    labels: list[str]
    report: DataReport


def read_table(path: "str | Path", columns: list[str], *, encoding: str = "utf-8", errors: str = "strict"):
    """Read a CSV or Parquet file as strings and check that ``columns`` are present."""
    path = Path(path)
    if not path.is_file():
        raise TicketClassifierError(f"data file not found: {path}")
    if path.suffix.lower() in PARQUET_SUFFIXES:
        frame = _read_parquet(path)
    else:
        frame = _read_csv(path, encoding, errors)
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        found = ", ".join(map(str, frame.columns)) or "none"
        raise TicketClassifierError(f"{path} lacks required column(s) {', '.join(missing)} (columns found: {found})")
    return frame


def _read_csv(path: Path, encoding: str, errors: str) -> pd.DataFrame:
    """A CSV file as a frame of strings (a UTF-8 byte-order mark is dropped); undecodable bytes are an error
    naming the line."""
    if encoding.lower().replace("_", "-") in ("utf-8", "utf8"):
        encoding = "utf-8-sig"
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False, encoding=encoding, encoding_errors=errors)
    except UnicodeDecodeError:
        raise TicketClassifierError(_describe_undecodable(path, encoding)) from None
    except LookupError:
        raise TicketClassifierError(f"unknown encoding {encoding!r} for {path}") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise TicketClassifierError(f"cannot read {path} as CSV: {str(exc).strip().splitlines()[0]}") from None


def _describe_undecodable(path: Path, encoding: str) -> str:
    """Where the first undecodable byte of ``path`` is."""
    raw = path.read_bytes()
    try:
        raw.decode(encoding)
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        name = "UTF-8" if encoding == "utf-8-sig" else encoding
        return (
            f"{path}: line {line} is not valid {name} (byte 0x{raw[exc.start]:02x}); save the file as UTF-8, "
            "or give its encoding (--encoding cp1252, data.encoding), or data.encoding_errors: replace"
        )
    return f"{path} is not valid {encoding}"


def _read_parquet(path: Path) -> pd.DataFrame:
    """A Parquet file with every column as strings (missing values as empty strings)."""
    try:
        frame = pd.read_parquet(path)
    except ImportError:
        raise TicketClassifierError("reading Parquet needs pyarrow: pip install 'ticket-classifier[train]'") from None
    except Exception as exc:  # pyarrow raises its own error types for corrupt files
        raise TicketClassifierError(f"cannot read {path} as Parquet: {str(exc).splitlines()[0]}") from None
    return frame.astype(object).where(frame.notna(), "").astype(str)


def load_labeled_texts(path: str, config: DataConfig, report: DataReport) -> LabeledTexts:
    """Read one data file, join the text fields and drop (and count) rows with no text or label."""
    columns = list(config.text_fields) + [config.label_field]
    if config.timestamp_field:
        columns.append(config.timestamp_field)
    frame = read_table(path, columns, encoding=config.encoding, errors=config.encoding_errors)
    fields = list(frame[list(config.text_fields)].itertuples(index=False))
    texts = [join_ticket_text(row) for row in fields]
    labels = [label.strip() for label in frame[config.label_field]]
    has_text = np.array([bool(text) for text in texts], dtype=bool)
    has_label = np.array([bool(label) for label in labels], dtype=bool)
    keep = np.flatnonzero(has_text & has_label)
    report.files.append(str(path))
    report.rows_read += len(frame)
    report.dropped_empty_text += int((~has_text).sum())
    report.dropped_empty_label += int((has_text & ~has_label).sum())
    report.rows_with_replaced_bytes += sum(
        any(REPLACEMENT_CHARACTER in str(value) for value in fields[i]) for i in keep
    )
    data = LabeledTexts(texts=texts, labels=labels, timestamps=_timestamps(frame, config, path)).subset(keep)
    if not data.texts:
        raise TicketClassifierError(f"{path} holds no row with both a text and a label")
    return data


def _timestamps(frame: pd.DataFrame, config: DataConfig, path: str) -> list | None:
    """Parsed timestamps, or None without a timestamp column; an unparseable one is an error."""
    if not config.timestamp_field:
        return None
    raw = frame[config.timestamp_field]
    parsed = pd.to_datetime(raw, errors="coerce", utc=True)
    bad = parsed.isna() & (raw.str.strip() != "")
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise TicketClassifierError(
            f"{path}: unparseable timestamp {raw.iloc[row]!r} in column {config.timestamp_field} (data row {row + 1})"
        )
    if parsed.isna().any():
        raise TicketClassifierError(f"{path}: {int(parsed.isna().sum())} rows lack a {config.timestamp_field} value")
    return list(parsed)


def check_label_counts(data: LabeledTexts, config: DataConfig, report: "DataReport") -> LabeledTexts:
    """Labels with fewer than ``min_examples_per_label`` examples: an error naming them and the options, or
    (with ``drop_rare_labels``) their rows dropped and counted."""
    minimum = config.min_examples_per_label
    counts = label_counts(data.labels)
    rare = {label: count for label, count in counts.items() if count < minimum}
    if not rare:
        return data
    listed = ", ".join(
        f"{label} ({count})" for label, count in sorted(rare.items(), key=lambda item: (item[1], item[0]))
    )
    if not config.drop_rare_labels:
        raise TicketClassifierError(
            f"{config.path}: {len(rare)} label(s) with fewer than {minimum} examples: {listed}; "
            f"merge them, drop their rows with --drop-rare-labels (data.drop_rare_labels: true), "
            "or lower --min-examples-per-label (to 3 at the least)"
        )
    report.dropped_rare_labels = rare
    keep = [i for i, label in enumerate(data.labels) if label not in rare]
    if not keep:
        raise TicketClassifierError(f"{config.path}: every label has fewer than {minimum} examples")
    return data.subset(keep)


def exclude_labels(data: LabeledTexts, config: DataConfig, report: DataReport) -> LabeledTexts:
    """``data`` without the rows of ``config.exclude_labels`` (counted); an excluded label absent from
    every file read so far is an error (a typo would otherwise exclude nothing)."""
    if not config.exclude_labels:
        return data
    excluded = set(config.exclude_labels)
    for label in excluded:
        report.excluded_labels[label] = report.excluded_labels.get(label, 0) + data.labels.count(label)
    absent = sorted(label for label in excluded if not report.excluded_labels[label])
    if absent:
        raise TicketClassifierError(f"{config.path}: data.exclude_labels names labels not in the data: {absent}")
    keep = [i for i, label in enumerate(data.labels) if label not in excluded]
    if not keep:
        raise TicketClassifierError(f"{config.path}: data.exclude_labels leaves no row")
    return data.subset(keep)


def prepare_splits(config: DataConfig, seed: int) -> DatasetSplits:
    """Read, check and split the data as ``config`` says; log and return every count."""
    report = DataReport()
    data = exclude_labels(load_labeled_texts(config.path, config, report), config, report)
    data = check_label_counts(data, config, report)
    _check_room_for_every_label(data, config)
    if config.test_path:
        test = exclude_labels(load_labeled_texts(config.test_path, config, report), config, report)
        train, validation = _split_two(data, config.validation_fraction, seed, report, config.path)
    else:
        train, validation, test = _split_three(data, config, seed, report)
    validation, test = _remove_cross_split_duplicates(train, validation, test, report)
    labels = sorted(set(train.labels))
    validation, test = (
        _drop_unseen(split, labels, name, report) for split, name in ((validation, "validation"), (test, "test"))
    )
    report.rows = {"train": len(train), "validation": len(validation), "test": len(test)}
    report.train_label_counts = label_counts(train.labels)
    for name, split in (("train", train), ("validation", validation), ("test", test)):
        if len(split) == 0:
            raise TicketClassifierError(f"{config.path}: the {name} split is empty; the file has too few rows")
    report.log()
    return DatasetSplits(train, validation, test, labels, report)


def _check_room_for_every_label(data: LabeledTexts, config: DataConfig) -> None:
    """A stratified split needs each held-out split to hold at least one example of every label."""
    if data.timestamps is not None:
        return
    labels = len(set(data.labels))
    fractions = [config.validation_fraction] + ([] if config.test_path else [config.test_fraction])
    for fraction in fractions:
        if int(len(data) * fraction) < labels:
            raise TicketClassifierError(
                f"{config.path}: {len(data)} rows and {labels} labels: a held-out split of {fraction:.0%} "
                f"({int(len(data) * fraction)} rows) cannot hold one example of every label; use more data, "
                "raise data.validation_fraction / data.test_fraction, or drop rare labels (--drop-rare-labels)"
            )


def _split_three(data: LabeledTexts, config: DataConfig, seed: int, report: DataReport):
    """Train, validation, test: by time when there are timestamps, else stratified."""
    held_out = config.validation_fraction + config.test_fraction
    if data.timestamps is not None:
        report.split = "temporal"
        order = np.argsort(np.array([stamp.value for stamp in data.timestamps]), kind="stable")
        n_train = int(round(len(order) * (1 - held_out)))
        n_validation = int(round(len(order) * config.validation_fraction))
        return tuple(data.subset(part) for part in np.split(order, [n_train, n_train + n_validation]))
    report.split = f"stratified (seed {seed})"
    train, rest = _stratified(np.arange(len(data)), data.labels, held_out, seed, config.path)
    validation, test = _stratified(
        rest, [data.labels[i] for i in rest], config.test_fraction / held_out, seed, config.path
    )
    return data.subset(train), data.subset(validation), data.subset(test)


def _split_two(data: LabeledTexts, fraction: float, seed: int, report: DataReport, path: str):
    """Train and validation from one file (the test set is a file of its own)."""
    if data.timestamps is not None:
        report.split = "temporal, test file given"
        order = np.argsort(np.array([stamp.value for stamp in data.timestamps]), kind="stable")
        n_train = int(round(len(order) * (1 - fraction)))
        return data.subset(order[:n_train]), data.subset(order[n_train:])
    report.split = f"stratified (seed {seed}), test file given"
    train, validation = _stratified(np.arange(len(data)), data.labels, fraction, seed, path)
    return data.subset(train), data.subset(validation)


def _stratified(indices, labels, fraction: float, seed: int, path: str):
    """``train_test_split`` by label, with its errors made readable."""
    try:
        return train_test_split(indices, test_size=fraction, stratify=labels, random_state=seed)
    except ValueError as exc:
        raise TicketClassifierError(f"cannot split {path} by label: {exc}") from None


def _remove_cross_split_duplicates(train: LabeledTexts, validation: LabeledTexts, test: LabeledTexts, report):
    """Drop validation texts seen in train, and test texts seen in train or validation."""
    seen = set(train.texts)
    validation_keep = [i for i, text in enumerate(validation.texts) if text not in seen]
    seen.update(validation.texts)
    test_keep = [i for i, text in enumerate(test.texts) if text not in seen]
    report.duplicates_removed = {
        "validation": len(validation) - len(validation_keep),
        "test": len(test) - len(test_keep),
    }
    return validation.subset(validation_keep), test.subset(test_keep)


def _drop_unseen(split: LabeledTexts, labels: list[str], name: str, report: DataReport) -> LabeledTexts:
    """Rows whose label never occurs in train cannot be learnt: drop and count them."""
    known = set(labels)
    keep = [i for i, label in enumerate(split.labels) if label in known]
    report.dropped_unseen_label[name] = len(split) - len(keep)
    return split.subset(keep)


def label_counts(labels: list[str]) -> dict[str, int]:
    """How many times each label occurs, most frequent first (ties by name)."""
    values, counts = np.unique(np.array(labels, dtype=object), return_counts=True)
    return {
        str(value): int(count) for value, count in sorted(zip(values, counts), key=lambda item: (-item[1], item[0]))
    }


def data_provenance(config: DataConfig, splits: DatasetSplits) -> dict:
    """Where a model's data came from: files with their SHA-256, columns, rows, splits and date range."""
    files = [config.path] + ([config.test_path] if config.test_path else [])
    stamps = [stamp for split in (splits.train, splits.validation, splits.test) for stamp in split.timestamps or []]
    return {
        "files": [{"path": str(Path(path).resolve()), "sha256": _sha256(Path(path))} for path in files],
        "text_columns": list(config.text_fields),
        "label_column": config.label_field,
        "timestamp_column": config.timestamp_field,
        "rows_read": splits.report.rows_read,
        "split": splits.report.split,
        "rows": dict(splits.report.rows),
        "date_range": [min(stamps).isoformat(), max(stamps).isoformat()] if stamps else None,
    }


def _sha256(path: Path) -> str:
    """The SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
