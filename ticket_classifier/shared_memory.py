"""The Python backend's shared-memory regions in ``/dev/shm``: which exist, and which were left behind.

Triton removes a region when a stub stops cleanly. A server killed with SIGKILL leaves its
regions behind (each is several megabytes of RAM, and a small ``/dev/shm`` fills up). A region
that no live process maps any more, is ours, and is not brand new (the server maps a region as
it creates it, so a couple of seconds is ample), is stale and safe to remove.
"""

import os
import time
from pathlib import Path

SHM_DIRECTORY = Path("/dev/shm")
SHM_REGION_PREFIX = "triton_python_backend_shm_region_"


def shm_regions() -> set[str]:
    """Names of the Python backend's shared-memory regions now in ``/dev/shm``."""
    if not SHM_DIRECTORY.is_dir():
        return set()
    return {path.name for path in SHM_DIRECTORY.glob(SHM_REGION_PREFIX + "*")}


def mapped_shm_regions() -> set[str]:
    """Regions that some live process maps (read from ``/proc/*/maps``)."""
    mapped = set()
    marker = f"{SHM_DIRECTORY}/{SHM_REGION_PREFIX}"
    for maps in Path("/proc").glob("[0-9]*/maps"):
        try:
            text = maps.read_text(errors="replace")
        except OSError:  # the process ended, or is not ours to read
            continue
        for line in text.splitlines():
            position = line.find(marker)
            if position >= 0:
                mapped.add(line[position + len(str(SHM_DIRECTORY)) + 1 :].split()[0])
    return mapped


def remove_stale_shm_regions(min_age_s: float = 2.0) -> list[str]:
    """Remove this user's regions that no process maps and that are older than ``min_age_s``; returns their names."""
    candidates = shm_regions()
    if not candidates:
        return []
    mapped = mapped_shm_regions()
    removed = []
    for name in sorted(candidates - mapped):
        path = SHM_DIRECTORY / name
        try:
            info = path.stat()
            if info.st_uid != os.getuid() or time.time() - info.st_mtime < min_age_s:
                continue
            path.unlink()
        except OSError:
            continue
        removed.append(name)
    return removed
