"""Whether the other instances of a served model are at work: the fused step's sign that the server is idle.

Each instance of a Python-backend model is its own stub process. While an instance runs
``execute`` it holds an exclusive ``flock`` on its own file, in a folder that the instances of
one model version of one server share (under the temporary folder, named by the server's
process id, the model and the version); another instance tests those locks without waiting. A
few system calls per ``execute``, no shared state to corrupt: the file of an instance that died
is unlocked and reads as idle, and two instances that start at the same moment may each see the
other busy, which only costs them the faster of two sessions once.
"""

import fcntl
import os
import re
import tempfile
from pathlib import Path

FOLDER_PREFIX = "ticket-classifier-activity-"


class InstanceActivity:
    """This instance's lock file, and a view of its siblings'; ``with activity:`` around ``execute`` marks
    this instance busy."""

    def __init__(self, key: str, folder: "str | Path | None" = None) -> None:
        """Join the instances that share ``key`` (in a model: the server's process id, the model's name
        and version), in a folder under ``folder`` (default: the temporary folder); OSError where it
        cannot be created."""
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", key)
        self.folder = Path(folder or tempfile.gettempdir()) / f"{FOLDER_PREFIX}{name}"
        self.folder.mkdir(mode=0o700, exist_ok=True)
        if self.folder.is_symlink() or self.folder.stat().st_uid != os.getuid():  # another user's, in a shared /tmp
            raise PermissionError(f"{self.folder} is not this user's own folder")
        self.path = self.folder / f"{os.getpid()}.lock"
        self.handle = open(self.path, "w")  # noqa: SIM115 (held until close)
        self.siblings: dict[str, int] = {}  # file name -> descriptor, opened once

    def __enter__(self) -> "InstanceActivity":
        """Mark this instance busy."""
        fcntl.flock(self.handle, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Mark this instance idle."""
        fcntl.flock(self.handle, fcntl.LOCK_UN)

    def others_busy(self) -> bool:
        """True while another instance holds its lock (runs an ``execute``)."""
        entries = [entry for entry in os.scandir(self.folder) if entry.name != self.path.name]
        for gone in self.siblings.keys() - {entry.name for entry in entries}:  # instances that stopped
            os.close(self.siblings.pop(gone))
        for entry in entries:
            descriptor = self.siblings.get(entry.name)
            if descriptor is None:
                try:
                    descriptor = self.siblings[entry.name] = os.open(entry.path, os.O_RDONLY)
                except OSError:  # gone since the listing: that instance stopped
                    continue
            try:
                fcntl.flock(descriptor, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(descriptor, fcntl.LOCK_UN)
        return False

    def close(self) -> None:
        """Release the descriptors and remove this instance's file (and the folder, once empty)."""
        for descriptor in self.siblings.values():
            os.close(descriptor)
        self.siblings.clear()
        self.handle.close()
        self.path.unlink(missing_ok=True)
        try:
            self.folder.rmdir()
        except OSError:  # other instances still have their files there
            pass
