"""The serving contract: every name the served models, their files and their callers share.

Model names, tensor names, request and model parameters, and the names of the files in a
model version's folder are written here once. The Triton models, the repository builder, the
clients, the parity checks, the drift sidecar and the documentation all take them from here
(``docs/architecture.md``; ``model_repository/README.md`` is checked against this module).
"""

# The ensemble clients call, and its steps: three Python-backend models (tokenizer, classifier,
# postprocess), or with ``repository.fuse_steps`` one model that does all three in one process,
# without the hops between Triton and three Python stubs. In a fused version the three steps'
# files all lie in the pipeline's folder.
ENSEMBLE = "ticket_classifier"
TOKENIZER = "ticket_classifier_tokenizer"
CLASSIFIER = "ticket_classifier_onnx"
POSTPROCESS = "ticket_classifier_postprocess"
PIPELINE = "ticket_classifier_pipeline"
THREE_STEPS = (TOKENIZER, CLASSIFIER, POSTPROCESS)
FUSED_STEPS = (PIPELINE,)
STEP_MODELS = (*THREE_STEPS, *FUSED_STEPS)  # every step model a repository may hold
ENSEMBLE_VERSION = "1"  # the ensemble has one version folder; its config pins its steps' version

# Tensors. The ensemble's inputs (one string per ticket field):
TEXT_INPUTS = ("SUBJECT", "DESCRIPTION")
# The tokenizer's outputs, the classifier's inputs (a model uses the first two, or all three):
TOKEN_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
# The classifier's outputs; the postprocess step reads the calibrated probabilities and the
# novelty score (the squared Mahalanobis distance of the ticket's features to the nearest
# category's mean: high for tickets of no trained category; 0 from a model without a detector).
LOGITS, PROBABILITIES, NOVELTY_SCORE = "logits", "probabilities", "novelty_score"
CLASSIFIER_OUTPUTS = (LOGITS, PROBABILITIES, NOVELTY_SCORE)
POSTPROCESS_INPUT = "PROBABILITIES"
POSTPROCESS_NOVELTY_INPUT = "NOVELTY_SCORE"
# The ensemble's outputs, one row per ticket.
CATEGORY = "CATEGORY"
CONFIDENCE = "CONFIDENCE"
TOP_LABELS = "TOP_LABELS"
TOP_SCORES = "TOP_SCORES"
RANKED_LABELS = "RANKED_LABELS"
RANKED_SCORES = "RANKED_SCORES"
REQUIRES_REVIEW = "REQUIRES_REVIEW"
REVIEW_REASONS = "REVIEW_REASONS"
MODEL_VERSION = "MODEL_VERSION"
NOVELTY = "NOVELTY"
ENSEMBLE_OUTPUTS = (
    CATEGORY,
    CONFIDENCE,
    TOP_LABELS,
    TOP_SCORES,
    RANKED_LABELS,
    RANKED_SCORES,
    REQUIRES_REVIEW,
    REVIEW_REASONS,
    MODEL_VERSION,
    NOVELTY,
)

# Model parameters (config.pbtxt ``parameters``): size limits, on the tokenizer and the
# ensemble (where clients read them), the tokenizer's length buckets (comma-separated; empty:
# pad each request to its longest ticket), onnxruntime's thread count (0: the instance's share
# of the cores) and whether its threads spin (runtime/onnx_threads.py decides both).
MAX_FIELD_BYTES_PARAMETER = "max_field_bytes"
MAX_REQUEST_BYTES_PARAMETER = "max_request_bytes"
LENGTH_BUCKETS_PARAMETER = "length_buckets"
INTRA_OP_THREADS_PARAMETER = "intra_op_num_threads"
THREAD_SPINNING_PARAMETER = "thread_spinning"
# How the fused pipeline runs a batch through onnxruntime: each ticket on its own at its own length
# (a lone ticket with the instance's configured threads, several with the instance's share of the
# cores each) or the batch in one call per padded length (docs/benchmarks.md, "per-ticket calls").
ONNX_CALLS_PARAMETER = "onnx_calls"
PER_TICKET_CALLS = "per_ticket"
BATCHED_CALLS = "batched"
# The pipeline model warms its tokenizer and onnxruntime session itself before it reports ready
# ("1"), instead of through Triton warm-up requests, which would count in the product metrics.
WARMUP_PARAMETER = "self_warmup"
# An inference request carrying this request parameter (any value) is a health probe: it runs
# through every step, but the postprocess model (or the fused pipeline) leaves it out of the
# product counters.
HEALTH_PROBE_PARAMETER = "ticket_classifier_health_probe"

# Files of a model version's folder (and of a checkpoint, for those training writes).
PYTHON_MODEL_FILENAME = "model.py"
ONNX_MODEL_FILENAME = "model.onnx"
TOKENIZER_FILENAME = "tokenizer.json"
TOKENIZER_SETTINGS_FILENAME = "ticket_tokenizer.json"
LABELS_FILENAME = "labels.json"
REVIEW_POLICY_FILENAME = "review_policy.json"
DRIFT_REFERENCE_FILENAME = "drift_reference.json"
MODEL_INFO_FILENAME = "model_info.json"
BUILD_REPORT_FILENAME = "build_report.json"
MODEL_CARD_JSON = "model_card.json"
MODEL_CARD_MARKDOWN = "model_card.md"
# The folder name this package has beside each Python model's ``model.py`` (copied as-is).
RUNTIME_PACKAGE = "runtime"
