"""Write a Triton model repository from a checkpoint and its ONNX export.

Layout (``N`` is the model version)::

    ticket_classifier/              config.pbtxt, N/            (ensemble)
    ticket_classifier_tokenizer/    config.pbtxt, N/model.py, ticket_text.py, ticket_tokenization.py,
                                                    tokenizer.json, ticket_tokenizer.json
    ticket_classifier_onnx/         config.pbtxt, N/model.onnx (+ model.py for the Python backend)
    ticket_classifier_postprocess/  config.pbtxt, N/model.py, labels.json, model_info.json,
                                                    drift_reference.json

The label list is written once, into the postprocessing step. The text-joining and
tokenization modules are copied verbatim from this package, so serving runs the code
training ran.
"""

import datetime
import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from ticket_classifier import text, tokenization
from ticket_classifier.build import model_configs
from ticket_classifier.build.model_configs import CLASSIFIER, ENSEMBLE, POSTPROCESS, TOKENIZER, RepositoryOptions
from ticket_classifier.build.triton_models import CLASSIFIER_SOURCE, POSTPROCESS_SOURCE, TOKENIZER_SOURCE
from ticket_classifier.drift_reference import DRIFT_REFERENCE_FILENAME
from ticket_classifier.errors import TicketClassifierError
from ticket_classifier.labels import LABELS_FILENAME, read_labels, write_labels
from ticket_classifier.tokenization import SETTINGS_FILENAME, TOKENIZER_FILENAME, TicketTokenizer

VENDORED_MODULES = {"ticket_text.py": Path(text.__file__), "ticket_tokenization.py": Path(tokenization.__file__)}
MODEL_INFO_FILENAME = "model_info.json"


@dataclass
class BuiltRepository:
    """What :func:`build_repository` wrote."""

    path: Path
    version: int
    model_version: str


def next_version(repository: Path) -> int:
    """One more than the highest version any model of the repository has (1 for a new one)."""
    versions = [
        int(entry.name)
        for model in (ENSEMBLE, TOKENIZER, CLASSIFIER, POSTPROCESS)
        if (repository / model).is_dir()
        for entry in (repository / model).iterdir()
        if entry.is_dir() and entry.name.isdigit()
    ]
    return max(versions, default=0) + 1


def build_repository(
    checkpoint_dir: "str | Path",
    onnx_path: "str | Path",
    output_dir: "str | Path",
    options: RepositoryOptions | None = None,
    *,
    version: int | None = None,
    precision: str = "fp32",
) -> BuiltRepository:
    """Write (or add a version to) the model repository at ``output_dir``."""
    options = options or RepositoryOptions()
    checkpoint_dir, onnx_path, output_dir = Path(checkpoint_dir), Path(onnx_path), Path(output_dir)
    _require_artifacts(checkpoint_dir, onnx_path)
    ticket_tokenizer = TicketTokenizer.from_directory(checkpoint_dir)
    labels = read_labels(checkpoint_dir)
    version = version or next_version(output_dir)
    if version < 1:
        raise TicketClassifierError(f"model version must be at least 1, got {version}")
    input_names = list(ticket_tokenizer.input_names)
    for config in model_configs.repository_configs(options, input_names, len(labels)):
        model_dir = output_dir / config.name
        version_dir = model_dir / str(version)
        if version_dir.exists():
            raise TicketClassifierError(f"{version_dir} already exists: choose another --version")
        version_dir.mkdir(parents=True)
        (model_dir / "config.pbtxt").write_text(config.render(), encoding="utf-8")

    tokenizer_dir = output_dir / TOKENIZER / str(version)
    shutil.copyfile(TOKENIZER_SOURCE, tokenizer_dir / "model.py")
    for filename, source in VENDORED_MODULES.items():
        shutil.copyfile(source, tokenizer_dir / filename)
    ticket_tokenizer.save(tokenizer_dir)

    classifier_dir = output_dir / CLASSIFIER / str(version)
    shutil.copyfile(onnx_path, classifier_dir / "model.onnx")
    if options.classifier_backend == "python":
        shutil.copyfile(CLASSIFIER_SOURCE, classifier_dir / "model.py")

    postprocess_dir = output_dir / POSTPROCESS / str(version)
    shutil.copyfile(POSTPROCESS_SOURCE, postprocess_dir / "model.py")
    write_labels(postprocess_dir, labels)
    shutil.copyfile(checkpoint_dir / DRIFT_REFERENCE_FILENAME, postprocess_dir / DRIFT_REFERENCE_FILENAME)
    digest = hashlib.sha256(onnx_path.read_bytes()).hexdigest()
    model_version = f"{version}-{precision}-{digest[:8]}"
    info = {
        "model_version": model_version,
        "version": version,
        "precision": precision,
        "onnx_sha256": digest,
        "checkpoint": str(checkpoint_dir.resolve()),
        "labels": len(labels),
        "options": options.__dict__,
        "built_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    (postprocess_dir / MODEL_INFO_FILENAME).write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")
    return BuiltRepository(path=output_dir, version=version, model_version=model_version)


def _require_artifacts(checkpoint_dir: Path, onnx_path: Path) -> None:
    """Fail with the missing file's name before writing anything."""
    if not checkpoint_dir.is_dir():
        raise TicketClassifierError(f"checkpoint folder not found: {checkpoint_dir}")
    for name in (TOKENIZER_FILENAME, SETTINGS_FILENAME, LABELS_FILENAME, DRIFT_REFERENCE_FILENAME):
        if not (checkpoint_dir / name).is_file():
            raise TicketClassifierError(f"checkpoint {checkpoint_dir} is incomplete: {name} is missing")
    if not onnx_path.is_file():
        raise TicketClassifierError(f"ONNX model not found: {onnx_path} (run 'ticket-classifier export' first)")
