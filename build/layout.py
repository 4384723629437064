"""Names, version bookkeeping and the state file of the model repository (standard library only).

``repository_state.json`` at the repository's root is the one record of what is served: the
``active`` version (the ensemble's), the ``served`` versions (those the step models load), the
``quarantined`` ones with the reason, and for each built version what its configurations are
generated from (``builds``: the build options, the model's input names and label count). The
builder writes it and adds each version's record; the rollout updates it; everything else reads
it, never the generated ``config.pbtxt`` text nor the version's files.
Triton ignores files at the repository's root, and version folders renamed ``quarantined-N``.

The drift monitor and the rollout read a repository with these helpers without the training
stack installed.
"""

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ticket_classifier.errors import TicketClassifierError
from ticket_classifier.runtime.contract import (
    ENSEMBLE,
    FUSED_STEPS,
    MODEL_INFO_FILENAME,
    PIPELINE,
    POSTPROCESS,
    STEP_MODELS,
    THREE_STEPS,
)

STATE_FILENAME = "repository_state.json"
QUARANTINE_PREFIX = "quarantined-"


def onnx_filename(precision: str) -> str:
    """``model.<precision>.onnx``, as ``ticket-classifier export`` names its files."""
    return f"model.{precision}.onnx"


@dataclass
class RepositoryState:
    """What the repository serves: see the module documentation."""

    active: int
    served: list[int]
    quarantined: dict[str, str] = field(default_factory=dict)
    builds: dict[str, dict] = field(default_factory=dict)

    def build(self, version: int) -> dict:
        """The build record of ``version`` (options, input_names, num_labels)."""
        if str(version) not in self.builds:
            raise TicketClassifierError(
                f"version {version} has no build record in {STATE_FILENAME} (built by an older ticket-classifier): "
                "build it again"
            )
        return self.builds[str(version)]

    def to_json(self) -> str:
        """The file's text."""
        return json.dumps(asdict(self), indent=1) + "\n"


def read_state(repository: Path) -> RepositoryState | None:
    """The repository's state, or None for a folder without one (not built yet)."""
    path = Path(repository) / STATE_FILENAME
    if not path.is_file():
        if (Path(repository) / ENSEMBLE / "config.pbtxt").is_file():
            raise TicketClassifierError(
                f"{repository} has no {STATE_FILENAME}: it was built by an older ticket-classifier; "
                "build it again into a new folder"
            )
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return RepositoryState(
            active=int(data["active"]),
            served=sorted(int(version) for version in data["served"]),
            quarantined={str(key): str(value) for key, value in data.get("quarantined", {}).items()},
            builds={str(key): dict(value) for key, value in data.get("builds", {}).items()},
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise TicketClassifierError(f"{path} is damaged ({exc}): rebuild the repository") from None


def write_state(repository: Path, state: RepositoryState) -> None:
    """Replace the state file atomically (a crash leaves the old or the new one, never half of one)."""
    repository = Path(repository)
    handle, temporary = tempfile.mkstemp(dir=repository, prefix=".state-", suffix=".json")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(state.to_json())
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, repository / STATE_FILENAME)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def versions(repository: Path, model: str | None = None) -> list[int]:
    """The version numbers present for ``model`` (default: of the last step, which every layout has),
    ascending (quarantined ones are not)."""
    if model is None:
        last_steps = (THREE_STEPS[-1], FUSED_STEPS[-1])
        return sorted({version for last in last_steps for version in versions(repository, last)})
    folder = Path(repository) / model
    if not folder.is_dir():
        return []
    return sorted(int(entry.name) for entry in folder.iterdir() if entry.is_dir() and entry.name.isdigit())


def step_folders(repository: Path, version: int) -> dict[str, Path]:
    """Where the files of each of the three steps of ``version`` lie: in the step's own folder, or all in the
    pipeline's folder for a fused version (``repository.fuse_steps``)."""
    repository = Path(repository)
    fused = (repository / PIPELINE / str(version)).is_dir()
    return {step: repository / (PIPELINE if fused else step) / str(version) for step in THREE_STEPS}


def next_version(repository: Path) -> int:
    """One more than the highest version any step model has or had (quarantined ones count: never reused)."""
    state = read_state(repository)
    quarantined = [int(version) for version in state.quarantined] if state else []
    highest = max([max(versions(repository, model), default=0) for model in STEP_MODELS] + quarantined, default=0)
    return highest + 1


def active_version(repository: Path) -> int | None:
    """The version the ensemble serves, or None for a repository not built yet."""
    state = read_state(repository)
    return state.active if state else None


def quarantine(repository: Path, version: int, reason: str) -> None:
    """Move every step's folder of ``version`` aside (``quarantined-N``), so no server ever loads it; record why."""
    repository = Path(repository)
    for model in STEP_MODELS:
        folder = repository / model / str(version)
        if folder.is_dir():
            folder.rename(repository / model / f"{QUARANTINE_PREFIX}{version}")
    state = read_state(repository)
    if state is not None:
        state.quarantined[str(version)] = reason
        state.served = [served for served in state.served if served != version]
        write_state(repository, state)


def model_info(repository: Path, version: int) -> dict:
    """The ``model_info.json`` of one version."""
    path = step_folders(repository, version)[POSTPROCESS] / MODEL_INFO_FILENAME
    if not path.is_file():
        raise TicketClassifierError(f"version {version} is not in {repository} ({path} is missing)")
    return json.loads(path.read_text(encoding="utf-8"))
