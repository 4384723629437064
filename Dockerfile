# GPU serving: NVIDIA's Triton container of the same release as the pip server (24.10 = Triton 2.51),
# which has the native onnxruntime backend with CUDA. Build the repository for it first:
#   ticket-classifier build-repository --device gpu --classifier-backend onnxruntime --precision fp16 ...
# then run (see README, "On a GPU" and "Security"):
#   docker build -t ticket-classifier-triton .
#   docker run --rm --gpus all --shm-size=1g -p 8000:8000 -p 8001:8001 -p 8002:8002 \
#       -v "$PWD/model_repository:/models:ro" \
#       -v "$PWD/admin.key:/run/secrets/ticket-classifier-admin-key:ro" ticket-classifier-triton
FROM nvcr.io/nvidia/tritonserver:24.10-py3

# The tokenizer and postprocessing steps are Python-backend models: they need numpy (below 2,
# as in the pip server) and the fast tokenizer library, nothing else.
RUN python3 -m pip install --no-cache-dir "numpy>=1.24,<2" "tokenizers>=0.19,<0.24"

COPY deploy/docker/entrypoint.sh /usr/local/bin/ticket-classifier-entrypoint

# The repository is mounted read-only: the Python stub must not try to write __pycache__ into
# it (a written cache would also look like a changed model to Triton on the next load).
ENV PYTHONDONTWRITEBYTECODE=1
# The image's unprivileged user; nothing here needs root.
USER triton-server

EXPOSE 8000 8001 8002
# Listens on every interface of the container (that is what -p publishes); model control is
# guarded by the admin key, or closed without one: see deploy/docker/entrypoint.sh.
ENTRYPOINT ["/usr/local/bin/ticket-classifier-entrypoint"]
