"""Write a Triton model repository from a checkpoint and its ONNX export.

Layout (``N`` is the model version)::

    ticket_classifier/              config.pbtxt (steps pinned to the active version), 1/
    ticket_classifier_tokenizer/    config.pbtxt, N/model.py, runtime/, tokenizer.json, ticket_tokenizer.json
    ticket_classifier_onnx/         config.pbtxt, N/model.onnx, build_report.json
                                                    (+ model.py and runtime/ for the Python backend)
    ticket_classifier_postprocess/  config.pbtxt, N/model.py, runtime/, labels.json, model_info.json,
                                                    review_policy.json, drift_reference.json, model_card.*

or, with ``fuse_steps``, the ensemble and one step holding all of the three steps' files::

    ticket_classifier_pipeline/     config.pbtxt, N/model.py, runtime/, tokenizer files, model.onnx, ...

(the names are the serving contract's, :mod:`ticket_classifier.runtime.contract`). Each
Python model's ``model.py`` and the ``runtime`` package beside it are copied as-is from
:mod:`ticket_classifier.runtime`, so serving runs the text joining, tokenization and review
policy that training and the clients run. The label list is written once, into the
postprocessing step. A new version is added beside the existing
ones without touching what is served (the configurations and ``repository_state.json``):
``ticket-classifier rollout`` (:func:`ticket_classifier.build.rollout.rollout`) checks it,
loads it and points the ensemble at it.
"""

import compileall
import contextlib
import datetime
import hashlib
import json
import logging
import shutil
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from ticket_classifier import runtime
from ticket_classifier.build.gates import quality_gate, resolve_precision, servable_onnx
from ticket_classifier.build.layout import (
    RepositoryState,
    next_version,
    read_state,
    step_folders,
    versions,
    write_state,
)
from ticket_classifier.build.model_card import model_card, write_model_card
from ticket_classifier.build.model_configs import (
    WARMUP_FOLDER,
    RepositoryOptions,
    VersionBuild,
    ensemble_config,
    member_configs,
    warmup_ticket_files,
)
from ticket_classifier.drift_reference import UNKNOWN_CATEGORY_SHARE, read_drift_reference, write_drift_reference
from ticket_classifier.errors import TicketClassifierError
from ticket_classifier.labels import read_labels, write_labels
from ticket_classifier.runtime.contract import (
    BUILD_REPORT_FILENAME,
    CLASSIFIER,
    DRIFT_REFERENCE_FILENAME,
    ENSEMBLE,
    ENSEMBLE_VERSION,
    MODEL_INFO_FILENAME,
    ONNX_MODEL_FILENAME,
    PIPELINE,
    POSTPROCESS,
    PYTHON_MODEL_FILENAME,
    REVIEW_POLICY_FILENAME,
    RUNTIME_PACKAGE,
    TOKENIZER,
)
from ticket_classifier.runtime.review import ReviewPolicy
from ticket_classifier.runtime.tokenization import TicketTokenizer
from ticket_classifier.training.checkpoint import check_checkpoint
from ticket_classifier.training.novelty import with_novelty_threshold

log = logging.getLogger(__name__)

RUNTIME_SOURCE = Path(runtime.__file__).parent
# Each Python step's model.py, in the runtime package (models/ itself is not copied).
MODEL_SOURCES = {
    TOKENIZER: RUNTIME_SOURCE / "models" / "tokenizer" / PYTHON_MODEL_FILENAME,
    CLASSIFIER: RUNTIME_SOURCE / "models" / "classifier" / PYTHON_MODEL_FILENAME,
    POSTPROCESS: RUNTIME_SOURCE / "models" / "postprocess" / PYTHON_MODEL_FILENAME,
    PIPELINE: RUNTIME_SOURCE / "models" / "pipeline" / PYTHON_MODEL_FILENAME,
}


@dataclass
class BuiltRepository:
    """What :func:`build_repository` wrote."""

    path: Path
    version: int
    model_version: str
    activated: bool
    model_card: Path


def build_repository(
    checkpoint_dir: "str | Path",
    onnx_dir: "str | Path",
    output_dir: "str | Path",
    options: RepositoryOptions | None = None,
    *,
    version: int | None = None,
    review_policy: ReviewPolicy | None = None,
    review_policy_source: str = "the review policy",
    allow_below_baseline: bool = False,
) -> BuiltRepository:
    """Add model version ``version`` (default: the next) to the repository at ``output_dir``.

    A new repository serves the version at once; an existing one keeps serving what it served
    until :func:`ticket_classifier.build.rollout.rollout`. ``precision: auto`` becomes the device's
    fastest precision that passed its parity gate (INT8 on CPU, FP16 on GPU, else FP32), and the
    version records which. Refused: a precision that failed its
    parity gate, a model below its TF-IDF baseline (unless ``allow_below_baseline``), a review
    policy naming categories the model lacks. The review policy (the server's decision and
    metrics), the build options and the model card are stored with the version.
    """
    options = options or RepositoryOptions()
    review_policy = review_policy or ReviewPolicy()
    checkpoint_dir, onnx_dir, output_dir = Path(checkpoint_dir), Path(onnx_dir), Path(output_dir)
    check_checkpoint(checkpoint_dir)
    options = replace(options, precision=resolve_precision(onnx_dir, options.precision, options.device))
    onnx_path, build_report = servable_onnx(onnx_dir, options.precision)
    ticket_tokenizer = TicketTokenizer.from_directory(checkpoint_dir)
    labels = read_labels(checkpoint_dir)
    try:
        review_policy.check_labels(labels)
    except ValueError as exc:
        raise TicketClassifierError(f"{review_policy_source}: {exc}") from None
    quality = quality_gate(checkpoint_dir, options.min_macro_f1, allow_below_baseline)
    review_policy, unknown_share = with_novelty_threshold(review_policy, checkpoint_dir, options.novelty_flag_rate)
    state = read_state(output_dir)
    existing = versions(output_dir)
    if existing and read_labels(step_folders(output_dir, existing[-1])[POSTPROCESS]) != labels:
        raise TicketClassifierError(
            f"the labels differ from those of version {existing[-1]} in {output_dir}; "
            "a changed label set needs a new repository"
        )
    fused = bool(existing) and (output_dir / PIPELINE / str(existing[-1])).is_dir()
    if existing and fused != options.fused:
        raise TicketClassifierError(
            f"{output_dir} holds {'fused' if fused else 'three-step'} versions; a repository holds one layout: "
            f"build with repository.fuse_steps: {str(fused).lower()}, or into a new folder"
        )
    version = version or next_version(output_dir)
    if version < 1:
        raise TicketClassifierError(f"model version must be at least 1, got {version}")
    for model in options.steps:
        if (output_dir / model / str(version)).exists():
            raise TicketClassifierError(f"{output_dir / model / str(version)} already exists: choose another --version")
    with version_folders(output_dir, options.steps, version):  # a build that fails half-way leaves nothing behind
        folders = step_folders(output_dir, version)
        for model in options.steps:
            if model != CLASSIFIER or options.classifier_backend == "python":
                copy_python_model(model, output_dir / model / str(version))
        ticket_tokenizer.save(folders[TOKENIZER])

        shutil.copyfile(onnx_path, folders[CLASSIFIER] / ONNX_MODEL_FILENAME)
        shutil.copyfile(onnx_dir / BUILD_REPORT_FILENAME, folders[CLASSIFIER] / BUILD_REPORT_FILENAME)

        postprocess_dir = folders[POSTPROCESS]
        (postprocess_dir / REVIEW_POLICY_FILENAME).write_text(json.dumps(asdict(review_policy), indent=1) + "\n")
        write_labels(postprocess_dir, labels)
        reference = read_drift_reference(checkpoint_dir / DRIFT_REFERENCE_FILENAME)
        if unknown_share is not None:
            reference[UNKNOWN_CATEGORY_SHARE] = unknown_share
        write_drift_reference(postprocess_dir, reference)
        digest = hashlib.sha256(onnx_path.read_bytes()).hexdigest()
        model_version = f"{version}-{options.precision}-{digest[:8]}"
        info = {
            "model_version": model_version,
            "version": version,
            "precision": options.precision,
            "onnx_sha256": digest,
            "checkpoint": str(checkpoint_dir.resolve()),
            "labels": len(labels),
            "built_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        }
        (postprocess_dir / MODEL_INFO_FILENAME).write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")
        card = write_model_card(
            postprocess_dir, model_card(checkpoint_dir, onnx_path, build_report, review_policy, quality, info)
        )
        for model in options.steps:
            precompile(output_dir / model / str(version))
    build = VersionBuild(options, ticket_tokenizer.input_names, len(labels))
    activated = state is None
    if activated:
        state = RepositoryState(active=version, served=[version])
        write_member_configs(output_dir, build, [version])
        write_ensemble(output_dir, build, version)
    state.builds[str(version)] = build.to_record()
    write_state(output_dir, state)
    return BuiltRepository(
        path=output_dir, version=version, model_version=model_version, activated=activated, model_card=card
    )


@contextlib.contextmanager
def version_folders(repository: Path, steps: tuple[str, ...], version: int):
    """Create the folder of ``version`` of each of ``steps``; remove them all if the block fails."""
    created = [repository / model / str(version) for model in steps]
    for folder in created:
        folder.mkdir(parents=True)
    try:
        yield
    except BaseException:
        for folder in created:
            shutil.rmtree(folder, ignore_errors=True)
        raise


def copy_python_model(model: str, folder: Path) -> None:
    """Copy a step's ``model.py`` and, beside it, the runtime package it imports, file for file."""
    shutil.copyfile(MODEL_SOURCES[model], folder / PYTHON_MODEL_FILENAME)
    shutil.copytree(
        RUNTIME_SOURCE, folder / RUNTIME_PACKAGE, ignore=shutil.ignore_patterns("models", "__pycache__", "*.pyc")
    )


def precompile(folder: Path) -> None:
    """Byte-compile the Python files of a model version now, for this interpreter.

    Triton's Python stub would otherwise write ``__pycache__`` into the version folder when it
    first imports the model; Triton then takes the folder for a changed model and reloads it
    (and its ensemble) on every later load request, which under traffic can stall a rollout.
    """
    if not compileall.compile_dir(str(folder), quiet=1, maxlevels=1):
        raise TicketClassifierError(f"cannot byte-compile the Python files in {folder}")


def _write_if_changed(path: Path, text: str) -> None:
    """Write ``text`` unless the file already holds it: Triton reloads every version of a model
    whose configuration file changed, so an unchanged file keeps the served versions untouched."""
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


def write_member_configs(repository: Path, build: VersionBuild, served: list[int]) -> None:
    """(Re)write the step models' configurations from ``build``, loading the ``served`` versions,
    and the tokenizer's warm-up ticket."""
    for config in member_configs(build.options, list(build.input_names), build.num_labels, served):
        _write_if_changed(repository / config.name / "config.pbtxt", config.render())
    if build.options.fused:  # the pipeline warms itself up (runtime/models/pipeline/model.py)
        return
    warmup = repository / TOKENIZER / WARMUP_FOLDER
    warmup.mkdir(exist_ok=True)
    for name, data in warmup_ticket_files().items():
        if not (warmup / name).is_file() or (warmup / name).read_bytes() != data:
            (warmup / name).write_bytes(data)


def write_ensemble(repository: Path, build: VersionBuild, version: int) -> None:
    """(Re)write the ensemble configuration from ``build`` with every step pinned to ``version``."""
    for model in build.options.steps:
        if not (repository / model / str(version)).is_dir():
            raise TicketClassifierError(f"version {version} of {model} is not in {repository}")
    config = ensemble_config(build.options, list(build.input_names), build.num_labels, version)
    (repository / ENSEMBLE / ENSEMBLE_VERSION).mkdir(parents=True, exist_ok=True)
    (repository / ENSEMBLE / "config.pbtxt").write_text(config.render(), encoding="utf-8")
