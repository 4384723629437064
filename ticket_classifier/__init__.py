"""ticket-classifier: a service-desk ticket classifier served by NVIDIA Triton Inference Server.

The distribution maps its top-level folders into this one import namespace:
``ticket_classifier.training``, ``ticket_classifier.build``, ``ticket_classifier.clients`` and
``ticket_classifier.monitoring``; ``ticket_classifier.runtime`` is what runs inside Triton and
``ticket_classifier.commands`` the commands on top (``docs/architecture.md``).

The clients are importable from here, loaded on first use so that ``import ticket_classifier``
stays light::

    from ticket_classifier import AsyncTicketClassifierClient, TicketClassifierClient
"""

import importlib

__version__ = "0.1.0"
__all__ = ["AsyncTicketClassifierClient", "TicketClassifierClient"]
_CLIENTS = {
    "TicketClassifierClient": "ticket_classifier.clients.client",
    "AsyncTicketClassifierClient": "ticket_classifier.clients.async_client",
}


def __getattr__(name: str):
    """The clients, imported when first asked for."""
    if name in _CLIENTS:
        return getattr(importlib.import_module(_CLIENTS[name]), name)
    raise AttributeError(f"module 'ticket_classifier' has no attribute {name!r}")
