"""Ticket text -> padded model inputs, shared by training, export checks and the Triton tokenizer.

Built on the ``tokenizers`` library (the fast tokenizer saved with every checkpoint) and numpy
only, because the Triton tokenizer model runs a copy of this file. Sequences are padded to a
small set of fixed lengths ("buckets"): Triton's dynamic batcher only merges requests whose
shapes are equal, so padding each request to its own length would defeat batching.
"""

import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

TOKENIZER_FILENAME = "tokenizer.json"
SETTINGS_FILENAME = "ticket_tokenizer.json"
KNOWN_INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
# Texts are cut to ``max_length * CHARACTERS_PER_TOKEN`` characters before tokenizing, so that
# the work per ticket is bounded whatever its size. A word-piece token spans a few characters
# (about 4 to 5 in English prose), so the cut never reaches the first ``max_length`` tokens of
# real text; training and serving both cut here, so they can never disagree.
CHARACTERS_PER_TOKEN = 32


class TicketTokenizer:
    """A fast tokenizer with a fixed maximum length, length buckets and the model's input names."""

    def __init__(
        self,
        backend: Tokenizer,
        *,
        input_names: Sequence[str],
        max_length: int,
        length_buckets: Sequence[int] = (),
        pad_id: int = 0,
    ) -> None:
        unknown = [name for name in input_names if name not in KNOWN_INPUT_NAMES]
        if unknown or "input_ids" not in input_names or "attention_mask" not in input_names:
            raise ValueError(f"unsupported model input names {list(input_names)}")
        if max_length < 8:
            raise ValueError(f"max_length must be at least 8, got {max_length}")
        buckets = sorted({int(length) for length in length_buckets if 0 < int(length) < max_length})
        self.backend = backend
        self.input_names = tuple(input_names)
        self.max_length = int(max_length)
        self.length_buckets = tuple(buckets + [self.max_length])
        self.pad_id = int(pad_id)
        self.max_characters = self.max_length * CHARACTERS_PER_TOKEN
        backend.no_padding()
        backend.enable_truncation(self.max_length)

    @classmethod
    def from_directory(cls, directory: "str | os.PathLike[str]") -> "TicketTokenizer":
        """Load a tokenizer saved by :meth:`save`."""
        directory = Path(directory)
        settings = json.loads((directory / SETTINGS_FILENAME).read_text(encoding="utf-8"))
        return cls(Tokenizer.from_file(str(directory / TOKENIZER_FILENAME)), **settings)

    def save(self, directory: "str | os.PathLike[str]") -> None:
        """Write ``tokenizer.json`` and the settings file into ``directory``."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.backend.save(str(directory / TOKENIZER_FILENAME))
        settings = {
            "input_names": list(self.input_names),
            "max_length": self.max_length,
            "length_buckets": list(self.length_buckets),
            "pad_id": self.pad_id,
        }
        (directory / SETTINGS_FILENAME).write_text(json.dumps(settings, indent=1) + "\n", encoding="utf-8")

    def bucket_length(self, length: int) -> int:
        """The smallest bucket that holds ``length`` tokens."""
        return next(bucket for bucket in self.length_buckets if bucket >= length)

    def encode(self, texts: Sequence[str], *, bucketed: bool = True) -> dict[str, np.ndarray]:
        """Encode ``texts`` into int64 arrays, padded to a bucket (or to the longest text)."""
        return self.encode_groups([texts], bucketed=bucketed)[0]

    def encode_groups(self, groups: Sequence[Sequence[str]], *, bucketed: bool = True) -> list[dict[str, np.ndarray]]:
        """Encode several groups of texts in one tokenizer pass; each group is padded on its own.

        The Triton tokenizer gets one group per request and returns one padded batch per request.
        """
        flat = [text[: self.max_characters] for group in groups for text in group]
        encodings = self.backend.encode_batch(flat) if flat else []
        batches, start = [], 0
        for group in groups:
            batches.append(self._pad(encodings[start : start + len(group)], bucketed))
            start += len(group)
        return batches

    def _pad(self, encodings: Sequence, bucketed: bool) -> dict[str, np.ndarray]:
        """Stack encodings into padded arrays named after the model's inputs."""
        longest = max((len(encoding.ids) for encoding in encodings), default=1)
        length = self.bucket_length(longest) if bucketed else longest
        arrays = {
            "input_ids": np.full((len(encodings), length), self.pad_id, dtype=np.int64),
            "attention_mask": np.zeros((len(encodings), length), dtype=np.int64),
            "token_type_ids": np.zeros((len(encodings), length), dtype=np.int64),
        }
        for row, encoding in enumerate(encodings):
            size = len(encoding.ids)
            arrays["input_ids"][row, :size] = encoding.ids
            arrays["attention_mask"][row, :size] = encoding.attention_mask
            arrays["token_type_ids"][row, :size] = encoding.type_ids
        return {name: arrays[name] for name in self.input_names}
