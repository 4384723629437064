# Two images from one file (see README, "On a GPU", "Security" and "Run on Kubernetes"):
#
#   docker build -t ticket-classifier-triton .                        # the server (last stage, default)
#   docker build -t ticket-classifier-tools --target tools .          # drift monitor and CLI, no Triton
#
# The server is NVIDIA's Triton container of the same release as the pip server (24.10 = Triton
# 2.51), which has the native onnxruntime backend with CUDA and runs on CPU-only nodes too. Build
# the model repository for it first, then mount it read-only:
#   ticket-classifier build-repository --device gpu --classifier-backend onnxruntime --precision fp16 ...
#   docker run --rm --gpus all --shm-size=1g -p 8000:8000 -p 8001:8001 -p 8002:8002 \
#       -v "$PWD/model_repository:/models:ro" \
#       -v "$PWD/admin.key:/run/secrets/ticket-classifier-admin-key:ro" ticket-classifier-triton

# --- tools: the project's own Python commands (the drift-monitor sidecar in deploy/) -------------
FROM python:3.11-slim AS tools
WORKDIR /src
COPY . .
RUN python -m pip install --no-cache-dir ".[monitoring]" && rm -rf /src
# An unprivileged user with no home and no writable files; the sidecar only reads and serves.
USER 10001:10001
WORKDIR /
ENTRYPOINT ["ticket-classifier"]

# --- server: tritonserver on a read-only repository ------------------------------------------------
FROM nvcr.io/nvidia/tritonserver:24.10-py3 AS server

# The tokenizer and postprocessing steps are Python-backend models: they need numpy (below 2,
# as in the pip server) and the fast tokenizer library. onnxruntime serves a repository built
# for CPU as measured in docs/benchmarks.md (the classifier inside the Python backend); a GPU
# repository uses the image's native onnxruntime backend instead.
RUN python3 -m pip install --no-cache-dir "numpy>=1.24,<2" "tokenizers>=0.19,<0.24" "onnxruntime>=1.18,<2"

COPY deploy/docker/entrypoint.sh /usr/local/bin/ticket-classifier-entrypoint
# The health probe (standard library only): `python3 -m ticket_classifier.health` sends one real
# ticket through the ensemble; Kubernetes' readiness and liveness probes run it (deploy/base).
COPY ticket_classifier/__init__.py ticket_classifier/health.py /opt/ticket-classifier/ticket_classifier/
COPY ticket_classifier/runtime/__init__.py ticket_classifier/runtime/contract.py \
     /opt/ticket-classifier/ticket_classifier/runtime/
ENV PYTHONPATH=/opt/ticket-classifier

# The repository is mounted read-only: the Python stub must not try to write __pycache__ into
# it (a written cache would also look like a changed model to Triton on the next load). With a
# read-only root filesystem (deploy/), /tmp and /dev/shm are the only writable places.
ENV PYTHONDONTWRITEBYTECODE=1 HOME=/tmp
# The image's unprivileged user; nothing here needs root.
USER triton-server

EXPOSE 8000 8001 8002
# Listens on every interface of the container (that is what -p publishes); model control is
# guarded by the admin key, or closed without one: see deploy/docker/entrypoint.sh.
ENTRYPOINT ["/usr/local/bin/ticket-classifier-entrypoint"]
