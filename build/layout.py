"""Names and version bookkeeping of the model repository and the export folder (standard library only).

The drift monitor and the rollout read a repository with these helpers without the
training stack installed.
"""

import json
from pathlib import Path

from ticket_classifier.build.model_configs import CLASSIFIER, ENSEMBLE, POSTPROCESS, TOKENIZER
from ticket_classifier.errors import TicketClassifierError

MEMBERS = (TOKENIZER, CLASSIFIER, POSTPROCESS)
ENSEMBLE_VERSION = "1"
MODEL_INFO_FILENAME = "model_info.json"
BUILD_REPORT_FILENAME = "build_report.json"


def onnx_filename(precision: str) -> str:
    """``model.<precision>.onnx``, as ``ticket-classifier export`` names its files."""
    return f"model.{precision}.onnx"


def versions(repository: Path, model: str = POSTPROCESS) -> list[int]:
    """The version numbers present for ``model``, ascending."""
    folder = Path(repository) / model
    if not folder.is_dir():
        return []
    return sorted(int(entry.name) for entry in folder.iterdir() if entry.is_dir() and entry.name.isdigit())


def next_version(repository: Path) -> int:
    """One more than the highest version any step model has (1 for a new repository)."""
    return max((max(versions(repository, model), default=0) for model in MEMBERS), default=0) + 1


def active_version(repository: Path) -> int | None:
    """The version the ensemble's steps are pinned to, or None without an ensemble."""
    path = Path(repository) / ENSEMBLE / "config.pbtxt"
    if not path.is_file():
        return None
    pinned = {int(line.split(":")[1]) for line in path.read_text().splitlines() if "model_version:" in line}
    return pinned.pop() if len(pinned) == 1 else None


def model_info(repository: Path, version: int) -> dict:
    """The ``model_info.json`` of one version."""
    path = Path(repository) / POSTPROCESS / str(version) / MODEL_INFO_FILENAME
    if not path.is_file():
        raise TicketClassifierError(f"version {version} is not in {repository} ({path} is missing)")
    return json.loads(path.read_text(encoding="utf-8"))
