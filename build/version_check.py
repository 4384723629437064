"""Is a built model version fit to serve? Checked offline from its files, and live through the server's steps.

:func:`check_version_files` runs before a rollout touches the server: every file a step needs
is there and readable, each ``model.py`` compiles, and one ticket goes through the version's
own tokenizer and ONNX model (onnxruntime, CPU) to finite probabilities over its labels.
:func:`check_version_in_staging` then loads the version alone into a throwaway ``tritonserver``
on loopback (where the pip server is installed) and sends one ticket through its ensemble: a
model that cannot start fails there, not in the live server, whose readiness would otherwise
stay false until a restart (Triton 2.51 keeps a version that failed to load in its index).
:func:`probe_version` runs once the live server has loaded the version beside the active one:
one ticket through each of its steps (tokenizer, classifier and postprocess, or the fused
pipeline), addressed by version, before the ensemble is pointed at it.
"""

import json
import logging
import math
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from ticket_classifier.build.layout import step_folders
from ticket_classifier.build.model_configs import VersionBuild
from ticket_classifier.build.repository import write_ensemble, write_member_configs
from ticket_classifier.drift_reference import read_drift_reference
from ticket_classifier.errors import TicketClassifierError
from ticket_classifier.health import PROBE_TICKET, probe
from ticket_classifier.labels import read_labels
from ticket_classifier.runtime.contract import (
    CLASSIFIER,
    DRIFT_REFERENCE_FILENAME,
    FUSED_STEPS,
    HEALTH_PROBE_PARAMETER,
    LABELS_FILENAME,
    MODEL_INFO_FILENAME,
    MODEL_VERSION,
    NOVELTY_SCORE,
    ONNX_MODEL_FILENAME,
    PIPELINE,
    POSTPROCESS,
    POSTPROCESS_INPUT,
    POSTPROCESS_NOVELTY_INPUT,
    PROBABILITIES,
    PYTHON_MODEL_FILENAME,
    REVIEW_POLICY_FILENAME,
    TEXT_INPUTS,
    TOKENIZER,
    TOKENIZER_FILENAME,
    TOKENIZER_SETTINGS_FILENAME,
)
from ticket_classifier.runtime.review import ReviewPolicy
from ticket_classifier.runtime.text import join_ticket_text
from ticket_classifier.runtime.tokenization import TicketTokenizer
from ticket_classifier.server import ServerConfig, TritonInstallation, TritonServer, describe_failures
from ticket_classifier.triton_admin import base_url

log = logging.getLogger(__name__)

REQUIRED_FILES = {
    TOKENIZER: (PYTHON_MODEL_FILENAME, TOKENIZER_FILENAME, TOKENIZER_SETTINGS_FILENAME),
    CLASSIFIER: (ONNX_MODEL_FILENAME,),
    POSTPROCESS: (
        PYTHON_MODEL_FILENAME,
        LABELS_FILENAME,
        MODEL_INFO_FILENAME,
        REVIEW_POLICY_FILENAME,
        DRIFT_REFERENCE_FILENAME,
    ),
}


def check_version_files(repository: Path, version: int) -> None:
    """Fail with the first problem found in the files of ``version``; nothing is loaded into a server."""
    folders = step_folders(repository, version)
    for model, names in REQUIRED_FILES.items():
        for name in names:
            if not (folders[model] / name).is_file():
                raise TicketClassifierError(f"{folders[model].parent.name}/{version}/{name} is missing")
    for folder in set(folders.values()):
        for source in folder.glob("*.py"):
            try:
                compile(source.read_bytes(), str(source), "exec")
            except (SyntaxError, ValueError) as exc:
                raise TicketClassifierError(
                    f"{folder.parent.name}/{version}/{source.name} does not compile: {exc}"
                ) from None
    try:
        labels = read_labels(folders[POSTPROCESS])
        ReviewPolicy(**json.loads((folders[POSTPROCESS] / REVIEW_POLICY_FILENAME).read_text())).check_labels(labels)
        read_drift_reference(folders[POSTPROCESS] / DRIFT_REFERENCE_FILENAME)
        json.loads((folders[POSTPROCESS] / MODEL_INFO_FILENAME).read_text())
        tokenizer = TicketTokenizer.from_directory(folders[TOKENIZER])
    except Exception as exc:  # noqa: BLE001 - any unreadable or inconsistent file means: do not serve it
        raise TicketClassifierError(f"version {version} has unreadable files: {str(exc).splitlines()[0]}") from None
    _run_onnx(folders[CLASSIFIER] / ONNX_MODEL_FILENAME, tokenizer, len(labels))


def _run_onnx(path: Path, tokenizer: TicketTokenizer, num_labels: int) -> None:
    """One ticket through the ONNX model: probabilities over ``num_labels`` labels, finite, summing to 1."""
    import onnxruntime

    try:
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        probabilities = session.run([PROBABILITIES], tokenizer.encode([join_ticket_text(PROBE_TICKET)]))[0]
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own exception types for a broken file
        raise TicketClassifierError(
            f"{path.parent.parent.name}/{path.parent.name}/model.onnx does not run: {str(exc).splitlines()[0][:300]}"
        ) from None
    row = probabilities.reshape(-1).tolist()
    if len(row) != num_labels or not all(math.isfinite(p) for p in row) or abs(sum(row) - 1) > 1e-3:
        raise TicketClassifierError(
            f"{path} gives {len(row)} scores that are not probabilities over {num_labels} labels"
        )


def check_version_in_staging(repository: Path, version: int, build: VersionBuild, timeout_s: float) -> bool:
    """Serve ``version`` alone from a throwaway server on loopback and probe it; False when no local server exists."""
    try:
        TritonInstallation.locate()
    except TicketClassifierError:
        log.info("no local tritonserver: version %d is checked in the live server only", version)
        return False
    with tempfile.TemporaryDirectory(prefix="ticket-classifier-staging-") as folder:
        staging = Path(folder)
        for model in build.options.steps:
            (staging / model).mkdir()
            (staging / model / str(version)).symlink_to((Path(repository) / model / str(version)).resolve())
        write_member_configs(staging, build, [version])
        write_ensemble(staging, build, version)
        config = ServerConfig.on_free_ports()
        server = TritonServer(staging, config)
        server.start(wait=False)
        try:
            failed = server.wait_until_settled(timeout_s)
            if failed:
                raise TicketClassifierError(describe_failures(failed))
            result = probe(base_url(server.http_url), timeout_s)
            if not result.ok:
                raise TicketClassifierError(f"a staging server serves it, but a ticket fails: {result.detail}")
        finally:
            server.stop()
    return True


def probe_version(
    url: str,
    version: int,
    steps: tuple[str, ...],
    *,
    headers: dict | None = None,
    context=None,
    timeout_s: float = 30.0,
) -> str:
    """One ticket through each of the version's ``steps`` on the running server; returns its model version string."""
    inputs = [
        {"name": name, "shape": [1, 1], "datatype": "BYTES", "data": [text]}
        for name, text in zip(TEXT_INPUTS, PROBE_TICKET)
    ]
    if steps == FUSED_STEPS:
        answer = _infer(url, PIPELINE, version, inputs, headers, context, timeout_s)
        return str(next(output for output in answer if output["name"] == MODEL_VERSION)["data"][0])
    tokens = _infer(url, TOKENIZER, version, inputs, headers, context, timeout_s)
    classified = {
        output["name"]: output for output in _infer(url, CLASSIFIER, version, tokens, headers, context, timeout_s)
    }
    step = [
        {"name": name, **{key: classified[output][key] for key in ("shape", "datatype", "data")}}
        for name, output in ((POSTPROCESS_INPUT, PROBABILITIES), (POSTPROCESS_NOVELTY_INPUT, NOVELTY_SCORE))
    ]
    answer = _infer(url, POSTPROCESS, version, step, headers, context, timeout_s)
    return str(next(output for output in answer if output["name"] == MODEL_VERSION)["data"][0])


def _infer(url, model, version, inputs, headers, context, timeout_s) -> list[dict]:
    """A JSON inference on one version of one model; its outputs as JSON (inputs of the next step)."""
    body = {
        "parameters": {HEALTH_PROBE_PARAMETER: True},
        "inputs": [{key: entry[key] for key in ("name", "shape", "datatype", "data")} for entry in inputs],
    }
    request = urllib.request.Request(
        f"{url}/v2/models/{model}/versions/{version}/infer",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s, context=context) as response:
            return json.loads(response.read())["outputs"]
    except urllib.error.HTTPError as exc:
        raise TicketClassifierError(
            f"version {version} of {model} fails a real request: {exc.read().decode(errors='replace')[:300]}"
        ) from None
    except (urllib.error.URLError, OSError, ValueError, KeyError) as exc:
        raise TicketClassifierError(f"version {version} of {model} does not answer: {exc}") from None
