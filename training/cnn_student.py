"""The ``cnn`` student: word embeddings (initialised from the teacher's), convolutions of a few widths,
max-pooling over the ticket, one linear head. A Hugging Face model class, registered with the Auto
classes on import, so a student checkpoint saves, loads, exports and serves like a transformer's.

Each convolution is written as a linear layer over ``width`` consecutive embeddings (one MatMul in
ONNX, so dynamic INT8 quantization covers it). Padding is zeroed before the windows and after the
activation, so the result does not depend on how far a ticket is padded (length buckets).
"""

import torch
from transformers import AutoConfig, AutoModelForSequenceClassification, PretrainedConfig, PreTrainedModel
from transformers.modeling_outputs import SequenceClassifierOutput

MODEL_TYPE = "ticket-cnn"


class TicketCnnConfig(PretrainedConfig):
    """Sizes of the CNN student."""

    model_type = MODEL_TYPE

    def __init__(
        self,
        vocab_size: int = 30522,
        hidden_size: int = 384,
        filters: int = 256,
        widths: tuple[int, ...] = (1, 2, 3),
        dropout: float = 0.1,
        max_position_embeddings: int = 512,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size  # the embedding width
        self.filters = filters
        self.widths = list(widths)
        self.dropout = dropout
        self.max_position_embeddings = max_position_embeddings  # the longest input the tokenizer may give
        self.num_attention_heads = 1  # read by the ONNX export's graph optimiser; there is no attention here


class TicketCnnForSequenceClassification(PreTrainedModel):
    """Embeddings -> ReLU(linear over each window of ``width`` tokens) -> max over the ticket -> linear head."""

    config_class = TicketCnnConfig

    def __init__(self, config: TicketCnnConfig) -> None:
        super().__init__(config)
        self.embeddings = torch.nn.Embedding(config.vocab_size, config.hidden_size)
        self.windows = torch.nn.ModuleList(
            torch.nn.Linear(width * config.hidden_size, config.filters) for width in config.widths
        )
        self.dropout = torch.nn.Dropout(config.dropout)
        self.classifier = torch.nn.Linear(len(config.widths) * config.filters, config.num_labels)
        self.post_init()

    def _init_weights(self, module: torch.nn.Module) -> None:
        if isinstance(module, torch.nn.Linear):
            torch.nn.init.xavier_uniform_(module.weight)
            torch.nn.init.zeros_(module.bias)

    def get_input_embeddings(self) -> torch.nn.Embedding:
        """The word embeddings."""
        return self.embeddings

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **unused) -> SequenceClassifierOutput:
        """The logits of a batch of token ids."""
        mask = attention_mask.unsqueeze(-1).to(self.embeddings.weight.dtype)
        embedded = self.embeddings(input_ids) * mask
        length = embedded.shape[1]
        pooled = []
        for width, layer in zip(self.config.widths, self.windows):
            padded = torch.nn.functional.pad(embedded, (0, 0, 0, width - 1))
            windows = torch.cat([padded[:, offset : offset + length] for offset in range(width)], dim=-1)
            pooled.append((torch.relu(layer(windows)) * mask).amax(dim=1))
        return SequenceClassifierOutput(logits=self.classifier(self.dropout(torch.cat(pooled, dim=-1))))


def cnn_student(teacher_model) -> TicketCnnForSequenceClassification:
    """A CNN student with the teacher's word embeddings and labels."""
    embeddings = teacher_model.get_input_embeddings().weight
    teacher = teacher_model.config
    config = TicketCnnConfig(
        vocab_size=embeddings.shape[0],
        hidden_size=embeddings.shape[1],
        max_position_embeddings=getattr(teacher, "max_position_embeddings", 512),
        num_labels=teacher.num_labels,
        id2label=teacher.id2label,
        label2id=teacher.label2id,
        pad_token_id=teacher.pad_token_id,
    )
    student = TicketCnnForSequenceClassification(config)
    with torch.no_grad():
        student.embeddings.weight.copy_(embeddings)
    return student


AutoConfig.register(MODEL_TYPE, TicketCnnConfig)
AutoModelForSequenceClassification.register(TicketCnnConfig, TicketCnnForSequenceClassification)
