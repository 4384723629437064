"""No training/serving skew: the token ids Triton's tokenizer step produces equal training's and Hugging Face's.

For both architectures (BERT-style with token_type_ids, DistilBERT-style without), on tickets
that stress the text path: Unicode and accents, emoji, CJK, an empty subject, an empty
description, zero-width and compatibility characters, tabs and newlines, and texts longer than
the model's max length (truncated the same way everywhere).
"""

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from transformers import AutoTokenizer

from ticket_classifier.runtime.contract import TOKENIZER
from ticket_classifier.runtime.text import join_ticket_text
from ticket_classifier.runtime.tokenization import TicketTokenizer

pytestmark = pytest.mark.integration

TICKETS = [
    ("", "Drucker im 3. Stock druckt nicht – Fehler E-501, Grüße aus Köln (ß)"),
    ("Subject only, no body", ""),
    ("Café ☕ access denied", "naïve résumé 日本語のテキスト and an emoji 😀\tafter a tab\nand a newline"),
    ("Zero\u200bwidth\u200dchars", "NFKC: ﬁle ｆｕｌｌｗｉｄｔｈ ①②"),
    ("VPN", "disconnects again " * 200),
    ("word " * 300, "and a long description " * 300),
]


def served_token_ids(server, tickets) -> list[np.ndarray]:
    """The ids Triton's tokenizer model returns for each ticket, padding removed."""
    client = grpcclient.InferenceServerClient(server.grpc_url)
    ids = []
    for subject, description in tickets:
        inputs = []
        for name, value in (("SUBJECT", subject), ("DESCRIPTION", description)):
            tensor = grpcclient.InferInput(name, [1, 1], "BYTES")
            tensor.set_data_from_numpy(np.array([[value.encode("utf-8")]], dtype=object))
            inputs.append(tensor)
        result = client.infer(TOKENIZER, inputs)
        row, mask = result.as_numpy("input_ids")[0], result.as_numpy("attention_mask")[0]
        ids.append(row[mask == 1])
    return ids


def test_triton_tokenizer_ids_equal_training_and_hugging_face(tiny_server, tiny_model, tiny_encoders):
    training = TicketTokenizer.from_directory(tiny_model.checkpoint)
    reference = AutoTokenizer.from_pretrained(tiny_encoders[tiny_model.architecture])
    served = served_token_ids(tiny_server, TICKETS)
    for ticket, ids in zip(TICKETS, served):
        text = join_ticket_text(ticket)
        trained = training.encode([text])["input_ids"][0]
        hugging_face = reference(text[: training.max_characters], truncation=True, max_length=training.max_length)
        assert ids.tolist() == trained.tolist(), ticket
        assert ids.tolist() == hugging_face["input_ids"], ticket
    assert max(len(ids) for ids in served) == training.max_length, "the long tickets were truncated"
    assert min(len(ids) for ids in served) > 2, "every ticket kept some text"
