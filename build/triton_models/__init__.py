"""Sources of the Triton Python-backend models.

Each module here is copied by the repository builder to ``<model>/<version>/model.py``; it runs
inside Triton's Python stub, where ``triton_python_backend_utils`` is importable and the files
the builder put beside it (vendored helpers, tokenizer, labels, ONNX model) are on ``sys.path``.
"""

from pathlib import Path

TOKENIZER_SOURCE = Path(__file__).with_name("tokenizer.py")
CLASSIFIER_SOURCE = Path(__file__).with_name("onnx_classifier.py")
POSTPROCESS_SOURCE = Path(__file__).with_name("postprocess.py")
