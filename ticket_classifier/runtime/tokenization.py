"""Ticket text -> padded model inputs, shared by training, export checks and the Triton tokenizer.

Built on the ``tokenizers`` library (the fast tokenizer saved with every checkpoint) and numpy
only, because the Triton tokenizer model runs this file (see the runtime package).

What the model defines is saved with it: the input names, the maximum length, the pad id.
How a batch is padded is the caller's choice: training pads to the longest text; the server
may pad to a small set of fixed lengths ("length buckets", a repository setting), because
Triton's dynamic batcher only merges requests whose shapes are equal.
"""

import json
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

from .contract import TOKEN_INPUTS, TOKENIZER_FILENAME, TOKENIZER_SETTINGS_FILENAME

INPUT_IDS, ATTENTION_MASK, TOKEN_TYPE_IDS = TOKEN_INPUTS

# Texts are cut to ``max_length * CHARACTERS_PER_TOKEN`` characters before tokenizing, so that
# the work per ticket is bounded whatever its size. A word-piece token spans a few characters
# (about 4 to 5 in English prose), so the cut never reaches the first ``max_length`` tokens of
# real text; training and serving both cut here, so they can never disagree.
CHARACTERS_PER_TOKEN = 32


class TicketTokenizer:
    """A fast tokenizer with a fixed maximum length and the model's input names."""

    def __init__(self, backend: Tokenizer, *, input_names: Sequence[str], max_length: int, pad_id: int = 0) -> None:
        unknown = [name for name in input_names if name not in TOKEN_INPUTS]
        if unknown or INPUT_IDS not in input_names or ATTENTION_MASK not in input_names:
            raise ValueError(f"unsupported model input names {list(input_names)}")
        if max_length < 8:
            raise ValueError(f"max_length must be at least 8, got {max_length}")
        self.backend = backend
        self.input_names = tuple(input_names)
        self.max_length = int(max_length)
        self.pad_id = int(pad_id)
        self.max_characters = self.max_length * CHARACTERS_PER_TOKEN
        backend.no_padding()
        backend.enable_truncation(self.max_length)

    @classmethod
    def from_directory(cls, directory: "str | os.PathLike[str]") -> "TicketTokenizer":
        """Load a tokenizer saved by :meth:`save`."""
        directory = Path(directory)
        settings = json.loads((directory / TOKENIZER_SETTINGS_FILENAME).read_text(encoding="utf-8"))
        if settings.pop("length_buckets", None) is not None:
            warnings.warn(
                f"{directory / TOKENIZER_SETTINGS_FILENAME}: length_buckets is ignored; length buckets are a "
                "serving setting now (repository.length_buckets, or build-repository --length-buckets)",
                FutureWarning,
                stacklevel=2,
            )
        return cls(Tokenizer.from_file(str(directory / TOKENIZER_FILENAME)), **settings)

    def save(self, directory: "str | os.PathLike[str]") -> None:
        """Write ``tokenizer.json`` and the settings file into ``directory``."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.backend.save(str(directory / TOKENIZER_FILENAME))
        settings = {
            "input_names": list(self.input_names),
            "max_length": self.max_length,
            "pad_id": self.pad_id,
        }
        (directory / TOKENIZER_SETTINGS_FILENAME).write_text(json.dumps(settings, indent=1) + "\n", encoding="utf-8")

    def bucket_length(self, length: int, buckets: Sequence[int]) -> int:
        """The smallest of ``buckets`` (and the maximum length) that holds ``length`` tokens."""
        return min([bucket for bucket in buckets if length <= bucket < self.max_length] + [self.max_length])

    def encode(self, texts: Sequence[str], *, buckets: Sequence[int] = ()) -> dict[str, np.ndarray]:
        """Encode ``texts`` into int64 arrays, padded to the longest text, or with ``buckets`` to
        the smallest bucket that holds it."""
        return self.encode_groups([texts], buckets=buckets)[0]

    def encode_groups(
        self, groups: Sequence[Sequence[str]], *, buckets: Sequence[int] = ()
    ) -> list[dict[str, np.ndarray]]:
        """Encode several groups of texts in one tokenizer pass; each group is padded on its own.

        The Triton tokenizer gets one group per request and returns one padded batch per request.
        """
        flat = [text[: self.max_characters] for group in groups for text in group]
        encodings = self.backend.encode_batch(flat) if flat else []
        batches, start = [], 0
        for group in groups:
            batches.append(self._pad(encodings[start : start + len(group)], buckets))
            start += len(group)
        return batches

    def encode_by_length(
        self, texts: Sequence[str], *, buckets: Sequence[int] = ()
    ) -> list[tuple[np.ndarray, dict[str, np.ndarray]]]:
        """Encode ``texts`` in one tokenizer pass into batches of equal padded length: with ``buckets``
        one batch per bucket used, else one batch padded to the longest text. Each batch comes with
        the positions of its texts in ``texts``.

        The fused pipeline model runs one onnxruntime call per batch, so a short ticket is not
        padded to the length of the longest one it was batched with.
        """
        encodings = self.backend.encode_batch([text[: self.max_characters] for text in texts]) if texts else []
        lengths = np.array([len(encoding.ids) for encoding in encodings], dtype=np.int64)
        if buckets:
            lengths = np.array([self.bucket_length(length, buckets) for length in lengths.tolist()], dtype=np.int64)
        else:
            lengths = np.full(len(encodings), lengths.max(initial=1))
        batches = []
        for length in np.unique(lengths).tolist():
            rows = np.flatnonzero(lengths == length)
            batches.append((rows, self._pad([encodings[row] for row in rows.tolist()], buckets, length)))
        return batches

    def _pad(self, encodings: Sequence, buckets: Sequence[int], length: int | None = None) -> dict[str, np.ndarray]:
        """Stack encodings into padded arrays named after the model's inputs, ``length`` tokens long
        (default: the longest encoding, or the bucket that holds it)."""
        if length is None:
            longest = max((len(encoding.ids) for encoding in encodings), default=1)
            length = self.bucket_length(longest, buckets) if buckets else longest
        arrays = {
            INPUT_IDS: np.full((len(encodings), length), self.pad_id, dtype=np.int64),
            ATTENTION_MASK: np.zeros((len(encodings), length), dtype=np.int64),
            TOKEN_TYPE_IDS: np.zeros((len(encodings), length), dtype=np.int64),
        }
        for row, encoding in enumerate(encodings):
            size = len(encoding.ids)
            arrays[INPUT_IDS][row, :size] = encoding.ids
            arrays[ATTENTION_MASK][row, :size] = encoding.attention_mask
            arrays[TOKEN_TYPE_IDS][row, :size] = encoding.type_ids
        return {name: arrays[name] for name in self.input_names}
