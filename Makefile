# Two commands on a fresh machine: `make demo` and `make test`. Both create .venv and install
# what they need. Only torch==2.13.0 is ever asked for (a CPU build on these machines).

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Triton's C++ load generator, perf_analyzer, ships in the tritonclient wheel of the server's release;
# installed apart (no dependencies, own folder) so that the project's own tritonclient is untouched.
PERF_TOOLS ?= .perf-tools
PERF_ANALYZER_RELEASE := 2.51.0
# The Kubernetes manifests' offline checks (schema validation, policy scan) in their own
# environment: checkov pins many libraries that the project's environment must not share.
DEPLOY_TOOLS ?= .venv-deploy
DEPLOY_STAMP := $(DEPLOY_TOOLS)/.installed
export HF_HUB_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false

.PHONY: install demo serve test test-fast test-reliability reliability mutation update-golden lint gpu-check benchmark tune clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	$(BIN)/python -m pip install --quiet --upgrade --no-deps --target $(PERF_TOOLS) "tritonclient==$(PERF_ANALYZER_RELEASE)"
	touch $@

$(DEPLOY_STAMP):
	$(PYTHON) -m venv $(DEPLOY_TOOLS)
	$(DEPLOY_TOOLS)/bin/python -m pip install --quiet "kubernetes-validate==1.32.0" "checkov==3.3.30"
	touch $@

install: $(STAMP) $(DEPLOY_STAMP)  ## create .venv (and .venv-deploy) and install the project with every extra

demo: $(STAMP)  ## end to end on the demo data: train, export, serve with tritonserver, classify
	$(BIN)/ticket-classifier demo

serve: $(STAMP)  ## run tritonserver on model_repository/ in the foreground (Ctrl-C stops it)
	$(BIN)/ticket-classifier serve

test: $(STAMP) $(DEPLOY_STAMP)  ## the whole suite, with a real tritonserver; fails if no test was collected
	@$(BIN)/python -m pytest; status=$$?; \
	if [ $$status -eq 5 ]; then echo "error: pytest collected no tests" >&2; exit 1; fi; exit $$status

test-fast: $(STAMP)  ## unit tests only (no server, no training)
	$(BIN)/python -m pytest -m "not integration and not slow"

test-reliability: $(STAMP)  ## the fault and bad-input tests alone (they also run in `make test`)
	$(BIN)/python -m pytest -m reliability

reliability: $(STAMP)  ## fault scenarios with figures on the demo model (run `make demo` first); table + JSON
	$(BIN)/python -m ticket_classifier.reliability

benchmark: $(STAMP)  ## Triton vs the in-process ceiling and FastAPI peers on the demo model (run `make demo` first; needs wrk); table + JSON
	$(BIN)/ticket-classifier benchmark-serving

tune: $(STAMP)  ## try serving options on this machine with perf_analyzer; writes the best to artifacts/tuning/
	$(BIN)/ticket-classifier tune

# On a machine with an NVIDIA GPU, after `make demo`: FP16 parity and throughput with onnxruntime-gpu,
# in a separate environment (onnxruntime and onnxruntime-gpu cannot share one).
gpu-check:
	$(PYTHON) -m venv .venv-gpu
	.venv-gpu/bin/python -m pip install --quiet -e ".[train]"
	.venv-gpu/bin/python -m pip uninstall --yes --quiet onnxruntime
	.venv-gpu/bin/python -m pip install --quiet onnxruntime-gpu
	.venv-gpu/bin/python -m ticket_classifier.build.gpu_check --checkpoint artifacts/demo/checkpoint \
		--onnx-dir artifacts/demo/onnx --output artifacts/benchmarks/gpu_check.json

mutation: $(STAMP)  ## mutation testing of the core decision modules (cosmic-ray; about 15 minutes); see docs/testing.md
	$(BIN)/python -m pip install --quiet "cosmic-ray>=8.7,<9"
	$(BIN)/python tests/mutation/run.py

update-golden: $(STAMP)  ## rewrite the golden files (config.pbtxt, Kubernetes manifests, served predictions) after a deliberate change; review the diff
	$(BIN)/python tests/build/test_model_configs.py --update
	$(BIN)/python tests/deploy/test_manifests.py --update
	$(BIN)/python -m pytest -q tests/integration/test_served_predictions.py --update-golden

lint: $(STAMP)  ## ruff lint and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:  ## remove generated artifacts (keeps .venv)
	rm -rf artifacts data/demo .setuptools-build .pytest_cache
	find model_repository -mindepth 1 -maxdepth 1 -type d -exec rm -rf {} +
	rm -f model_repository/repository_state.json
