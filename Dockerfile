# GPU serving: NVIDIA's Triton container of the same release as the pip server (24.10 = Triton 2.51),
# which has the native onnxruntime backend with CUDA. Build the repository for it first:
#   ticket-classifier build-repository --device gpu --classifier-backend onnxruntime --precision fp16 ...
# then run (see README):
#   docker build -t ticket-classifier-triton .
#   docker run --rm --gpus all --shm-size=1g -p 8000:8000 -p 8001:8001 -p 8002:8002 \
#       -v "$PWD/model_repository:/models" ticket-classifier-triton
FROM nvcr.io/nvidia/tritonserver:24.10-py3

# The tokenizer and postprocessing steps are Python-backend models: they need numpy (below 2,
# as in the pip server) and the fast tokenizer library, nothing else.
RUN python3 -m pip install --no-cache-dir "numpy>=1.24,<2" "tokenizers>=0.19,<0.24"

EXPOSE 8000 8001 8002
# Byte-compile the Python models for this container's interpreter before Triton reads the
# repository: a __pycache__ written later would look like a changed model to Triton and make
# every rollout reload all versions (see build/repository.py, precompile).
CMD ["sh", "-c", "python3 -m compileall -q /models && exec tritonserver --model-repository=/models \
     --model-control-mode=explicit --load-model=* --strict-readiness=true --exit-on-error=false \
     --metrics-config=summary_latencies=true"]
