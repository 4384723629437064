"""Freezing the embeddings and the lower transformer layers of an encoder."""

import torch

from ticket_classifier.errors import TicketClassifierError


def transformer_layers(model) -> torch.nn.ModuleList:
    """The encoder's list of transformer blocks (BERT: ``encoder.layer``, DistilBERT: ``transformer.layer``)."""
    base = model.base_model
    for path in ("encoder.layer", "transformer.layer", "encoder.layers", "layers"):
        module = base
        for name in path.split("."):
            module = getattr(module, name, None)
            if module is None:
                break
        if isinstance(module, torch.nn.ModuleList):
            return module
    raise TicketClassifierError(f"cannot find the transformer layers of {type(model).__name__}")


def freeze(model, *, embeddings: bool, layers: int) -> int:
    """Stop gradients to the embeddings and the first ``layers`` blocks; returns the frozen parameter count."""
    blocks = transformer_layers(model)
    if layers > len(blocks):
        raise TicketClassifierError(f"model.freeze_layers is {layers} but the encoder has only {len(blocks)} layers")
    modules = list(blocks[:layers])
    if embeddings:
        modules.append(model.base_model.embeddings)
    frozen = 0
    for module in modules:
        for parameter in module.parameters():
            parameter.requires_grad_(False)
            frozen += parameter.numel()
    return frozen
