"""Everything that runs inside Triton: the serving contract, text joining, tokenization, the
review policy, the product metrics, and the Python models (``models/*/model.py``).

Rules, held by ``tests/runtime/test_isolation.py``:

* these modules import the standard library, numpy and ``tokenizers`` only, and each other
  relatively, never the rest of ``ticket_classifier``;
* the repository builder copies this folder as-is (no file renamed or edited) beside each
  Python model's ``model.py``, which imports it as ``runtime``; the rest of the project
  imports it as ``ticket_classifier.runtime``. The same file runs in training, in the clients
  and in the server, so they cannot drift apart.
"""
