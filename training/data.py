"""Loading labelled tickets and splitting them into train, validation and test sets."""

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from ticket_classifier.errors import TicketClassifierError
from ticket_classifier.text import join_ticket_text
from ticket_classifier.training.config import DataConfig

log = logging.getLogger(__name__)


@dataclass
class LabeledTexts:
    """Model-ready texts with their labels (and timestamps when the data has them)."""

    texts: list[str]
    labels: list[str]
    timestamps: list[pd.Timestamp] | None = None

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, indices: np.ndarray) -> "LabeledTexts":
        """The rows at ``indices``, in that order."""
        return LabeledTexts(
            texts=[self.texts[i] for i in indices],
            labels=[self.labels[i] for i in indices],
            timestamps=None if self.timestamps is None else [self.timestamps[i] for i in indices],
        )


@dataclass
class DatasetSplits:
    """The three splits of one dataset."""

    train: LabeledTexts
    validation: LabeledTexts
    test: LabeledTexts


def read_table(path: "str | Path", columns: list[str]) -> pd.DataFrame:
    """Read a CSV file as strings and check that ``columns`` are present."""
    path = Path(path)
    if not path.is_file():
        raise TicketClassifierError(f"data file not found: {path}")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise TicketClassifierError(f"cannot read {path} as CSV: {str(exc).splitlines()[0]}") from None
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        found = ", ".join(frame.columns) or "none"
        raise TicketClassifierError(f"{path} lacks required column(s) {', '.join(missing)} (columns found: {found})")
    return frame


def load_labeled_texts(config: DataConfig) -> LabeledTexts:
    """Read the data file, join the text fields and drop (and count) rows with no text or label."""
    columns = list(config.text_fields) + [config.label_field]
    if config.timestamp_field:
        columns.append(config.timestamp_field)
    frame = read_table(config.path, columns)
    texts = [join_ticket_text(row) for row in frame[list(config.text_fields)].itertuples(index=False)]
    labels = frame[config.label_field].str.strip().tolist()
    keep = [bool(text) and bool(label) for text, label in zip(texts, labels)]
    dropped = len(keep) - sum(keep)
    if dropped:
        log.warning("dropped %d of %d rows with an empty text or label", dropped, len(keep))
    timestamps = None
    if config.timestamp_field:
        parsed = pd.to_datetime(frame[config.timestamp_field], errors="coerce")
        if parsed[keep].isna().any():
            bad = frame[config.timestamp_field][parsed.isna() & pd.Series(keep)].iloc[0]
            raise TicketClassifierError(
                f"{config.path}: unparseable timestamp {bad!r} in column {config.timestamp_field}"
            )
        timestamps = [stamp for stamp, kept in zip(parsed, keep) if kept]
    data = LabeledTexts(
        texts=[text for text, kept in zip(texts, keep) if kept],
        labels=[label for label, kept in zip(labels, keep) if kept],
        timestamps=timestamps,
    )
    if not data.texts:
        raise TicketClassifierError(f"{config.path} holds no row with both a text and a label")
    return data


def split_dataset(data: LabeledTexts, config: DataConfig, seed: int) -> DatasetSplits:
    """Temporal split (older rows train) when there are timestamps, else stratified with ``seed``."""
    indices = np.arange(len(data))
    held_out = config.validation_fraction + config.test_fraction
    if data.timestamps is not None:
        order = indices[np.argsort(np.array(data.timestamps, dtype="datetime64[ns]"), kind="stable")]
        n_train = int(round(len(order) * (1 - held_out)))
        n_validation = int(round(len(order) * config.validation_fraction))
        train, validation, test = np.split(order, [n_train, n_train + n_validation])
    else:
        try:
            train, rest = train_test_split(indices, test_size=held_out, stratify=data.labels, random_state=seed)
            rest_labels = [data.labels[i] for i in rest]
            validation, test = train_test_split(
                rest, test_size=config.test_fraction / held_out, stratify=rest_labels, random_state=seed
            )
        except ValueError as exc:
            raise TicketClassifierError(f"cannot split {config.path} by label: {exc}") from None
    splits = DatasetSplits(data.subset(train), data.subset(validation), data.subset(test))
    for name in ("train", "validation", "test"):
        if len(getattr(splits, name)) == 0:
            raise TicketClassifierError(f"{config.path}: the {name} split is empty; the file has too few rows")
    log.info("split %d rows: train %d, validation %d, test %d", len(data), len(train), len(validation), len(test))
    return splits


def label_counts(labels: list[str]) -> dict[str, int]:
    """How many times each label occurs, most frequent first."""
    values, counts = np.unique(np.array(labels), return_counts=True)
    return {str(value): int(count) for value, count in sorted(zip(values, counts), key=lambda item: -item[1])}
