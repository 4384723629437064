"""ticket-classifier: a service-desk ticket classifier served by NVIDIA Triton Inference Server.

The distribution maps its top-level folders into this one import namespace:
``ticket_classifier.training``, ``ticket_classifier.build``, ``ticket_classifier.clients`` and
``ticket_classifier.monitoring``. This package itself holds what several of them share.
"""

__version__ = "0.1.0"
