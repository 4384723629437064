"""Write a Triton model repository from a checkpoint and its ONNX export.

Layout (``N`` is the model version)::

    ticket_classifier/              config.pbtxt (steps pinned to the active version), 1/
    ticket_classifier_tokenizer/    config.pbtxt, N/model.py, ticket_text.py, ticket_tokenization.py,
                                                    ticket_metrics.py, tokenizer.json, ticket_tokenizer.json
    ticket_classifier_onnx/         config.pbtxt, N/model.onnx, build_report.json (+ model.py for the Python backend)
    ticket_classifier_postprocess/  config.pbtxt, N/model.py, ticket_review.py, ticket_metrics.py, labels.json,
                                                    model_info.json, review_policy.json, drift_reference.json

The label list is written once, into the postprocessing step. The text-joining and
tokenization modules are copied verbatim from this package, so serving runs the code
training ran; so are the review policy module, which the clients run too, and the product
metrics' names, which the drift sidecar reads. A new version is added beside the existing
ones without touching what is served (the configurations and ``repository_state.json``):
``ticket-classifier rollout`` (:func:`ticket_classifier.build.rollout.rollout`) checks it,
loads it and points the ensemble at it.
"""

import compileall
import datetime
import hashlib
import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from ticket_classifier import text, tokenization
from ticket_classifier.build.gates import quality_gate, servable_onnx
from ticket_classifier.build.layout import (
    BUILD_REPORT_FILENAME,
    ENSEMBLE_VERSION,
    MEMBERS,
    MODEL_INFO_FILENAME,
    REVIEW_POLICY_FILENAME,
    RepositoryState,
    next_version,
    read_state,
    versions,
    write_state,
)
from ticket_classifier.build.model_card import model_card, write_model_card
from ticket_classifier.build.model_configs import (
    CLASSIFIER,
    ENSEMBLE,
    POSTPROCESS,
    TOKENIZER,
    RepositoryOptions,
    ensemble_config,
    member_configs,
)
from ticket_classifier.build.triton_models import CLASSIFIER_SOURCE, POSTPROCESS_SOURCE, TOKENIZER_SOURCE
from ticket_classifier.clients import review
from ticket_classifier.clients.review import ReviewPolicy
from ticket_classifier.drift_reference import DRIFT_REFERENCE_FILENAME
from ticket_classifier.errors import TicketClassifierError
from ticket_classifier.labels import read_labels, write_labels
from ticket_classifier.monitoring import product_metrics
from ticket_classifier.tokenization import TicketTokenizer
from ticket_classifier.training.checkpoint import check_checkpoint

TOKENIZER_VENDORED = {
    "ticket_text.py": Path(text.__file__),
    "ticket_tokenization.py": Path(tokenization.__file__),
    "ticket_metrics.py": Path(product_metrics.__file__),
}
POSTPROCESS_VENDORED = {"ticket_review.py": Path(review.__file__), "ticket_metrics.py": Path(product_metrics.__file__)}


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
    until :func:`ticket_classifier.build.rollout.rollout`. Refused: a precision that failed its
    parity gate, a model below its TF-IDF baseline (unless ``allow_below_baseline``), a review
    policy naming categories the model lacks. The review policy (the server's decision and
    metrics), the build options and the model card are stored with the version.
    """
    options = options or RepositoryOptions()
    review_policy = review_policy or ReviewPolicy()
    checkpoint_dir, onnx_dir, output_dir = Path(checkpoint_dir), Path(onnx_dir), Path(output_dir)
    check_checkpoint(checkpoint_dir)
    onnx_path, build_report = servable_onnx(onnx_dir, options.precision)
    ticket_tokenizer = TicketTokenizer.from_directory(checkpoint_dir)
    labels = read_labels(checkpoint_dir)
    try:
        review_policy.check_labels(labels)
    except ValueError as exc:
        raise TicketClassifierError(f"{review_policy_source}: {exc}") from None
    quality = quality_gate(checkpoint_dir, options.min_macro_f1, allow_below_baseline)
    state = read_state(output_dir)
    existing = versions(output_dir)
    if existing and read_labels(output_dir / POSTPROCESS / str(existing[-1])) != labels:
        raise TicketClassifierError(
            f"the labels differ from those of version {existing[-1]} in {output_dir}; "
            "a changed label set needs a new repository"
        )
    version = version or next_version(output_dir)
    if version < 1:
        raise TicketClassifierError(f"model version must be at least 1, got {version}")
    for model in MEMBERS:
        if (output_dir / model / str(version)).exists():
            raise TicketClassifierError(f"{output_dir / model / str(version)} already exists: choose another --version")
    for model in MEMBERS:
        (output_dir / model / str(version)).mkdir(parents=True)

    tokenizer_dir = output_dir / TOKENIZER / str(version)
    shutil.copyfile(TOKENIZER_SOURCE, tokenizer_dir / "model.py")
    _copy_modules(TOKENIZER_VENDORED, tokenizer_dir)
    ticket_tokenizer.save(tokenizer_dir)

    classifier_dir = output_dir / CLASSIFIER / str(version)
    shutil.copyfile(onnx_path, classifier_dir / "model.onnx")
    shutil.copyfile(onnx_dir / BUILD_REPORT_FILENAME, classifier_dir / BUILD_REPORT_FILENAME)
    if options.classifier_backend == "python":
        shutil.copyfile(CLASSIFIER_SOURCE, classifier_dir / "model.py")

    postprocess_dir = output_dir / POSTPROCESS / str(version)
    shutil.copyfile(POSTPROCESS_SOURCE, postprocess_dir / "model.py")
    _copy_modules(POSTPROCESS_VENDORED, postprocess_dir)
    (postprocess_dir / REVIEW_POLICY_FILENAME).write_text(json.dumps(asdict(review_policy), indent=1) + "\n")
    write_labels(postprocess_dir, labels)
    shutil.copyfile(checkpoint_dir / DRIFT_REFERENCE_FILENAME, postprocess_dir / DRIFT_REFERENCE_FILENAME)
    digest = hashlib.sha256(onnx_path.read_bytes()).hexdigest()
    model_version = f"{version}-{options.precision}-{digest[:8]}"
    info = {
        "model_version": model_version,
        "version": version,
        "precision": options.precision,
        "onnx_sha256": digest,
        "checkpoint": str(checkpoint_dir.resolve()),
        "labels": len(labels),
        "options": asdict(options),
        "built_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    (postprocess_dir / MODEL_INFO_FILENAME).write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")
    card = write_model_card(
        postprocess_dir, model_card(checkpoint_dir, onnx_path, build_report, review_policy, quality, info)
    )
    for folder in (tokenizer_dir, classifier_dir, postprocess_dir):
        precompile(folder)
    if state is None:
        write_member_configs(output_dir, options, version, [version])
        write_ensemble(output_dir, options, version)
        write_state(output_dir, RepositoryState(active=version, served=[version]))
    return BuiltRepository(
        path=output_dir, version=version, model_version=model_version, activated=state is None, model_card=card
    )


def _copy_modules(modules: dict[str, Path], folder: Path) -> None:
    """Copy shared modules next to a Python model, under the names its ``model.py`` imports."""
    for filename, source in modules.items():
        shutil.copyfile(source, folder / filename)


def precompile(folder: Path) -> None:
    """Byte-compile the Python files of a model version now, for this interpreter.

    Triton's Python stub would otherwise write ``__pycache__`` into the version folder when it
    first imports the model; Triton then takes the folder for a changed model and reloads it
    (and its ensemble) on every later load request, which under traffic can stall a rollout.
    """
    if not compileall.compile_dir(str(folder), quiet=1, maxlevels=0):
        raise TicketClassifierError(f"cannot byte-compile the Python files in {folder}")


def _write_if_changed(path: Path, text: str) -> None:
    """Write ``text`` unless the file already holds it: Triton reloads every version of a model
    whose configuration file changed, so an unchanged file keeps the served versions untouched."""
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


def write_member_configs(repository: Path, options: RepositoryOptions, version: int, served: list[int]) -> None:
    """(Re)write the three step models' configurations, loading the ``served`` versions (shapes from ``version``)."""
    ticket_tokenizer = TicketTokenizer.from_directory(repository / TOKENIZER / str(version))
    labels = read_labels(repository / POSTPROCESS / str(version))
    for config in member_configs(options, list(ticket_tokenizer.input_names), len(labels), served):
        _write_if_changed(repository / config.name / "config.pbtxt", config.render())


def write_ensemble(repository: Path, options: RepositoryOptions, version: int) -> None:
    """(Re)write the ensemble configuration with every step pinned to ``version``."""
    for model in MEMBERS:
        if not (repository / model / str(version)).is_dir():
            raise TicketClassifierError(f"version {version} of {model} is not in {repository}")
    ticket_tokenizer = TicketTokenizer.from_directory(repository / TOKENIZER / str(version))
    labels = read_labels(repository / POSTPROCESS / str(version))
    config = ensemble_config(options, list(ticket_tokenizer.input_names), len(labels), version)
    (repository / ENSEMBLE / ENSEMBLE_VERSION).mkdir(parents=True, exist_ok=True)
    (repository / ENSEMBLE / "config.pbtxt").write_text(config.render(), encoding="utf-8")
