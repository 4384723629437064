"""Where a served request's CPU goes, the server process itself against the model processes it started;
and the memory they hold together.

``tritonserver`` runs its front ends (gRPC, HTTP), the schedulers and the ensemble in its own
process; each Python-backend model instance is a child process (the stub) that runs the model's
code and its onnxruntime session. Reading both processes' CPU time from ``/proc`` around a load
level and dividing by the requests served gives CPU milliseconds per request on each side of that
boundary, to put beside the in-process ceiling's CPU per text. Linux only; elsewhere nothing is
reported.
"""

import os
from pathlib import Path

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
PROC = Path("/proc")


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` (all its threads); 0 if it is gone."""
    try:
        fields = (PROC / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS  # utime, stime (fields 14 and 15 of stat)


def _children(pid: int) -> list[int]:
    """The direct children of ``pid``, from every one of its threads."""
    children: list[int] = []
    try:
        tasks = list((PROC / str(pid) / "task").iterdir())
    except OSError:
        return children
    for task in tasks:
        try:
            children += [int(child) for child in (task / "children").read_text().split()]
        except OSError:
            continue
    return children


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid``."""
    found, pending = [], _children(pid)
    while pending:
        child = pending.pop()
        found.append(child)
        pending += _children(child)
    return found


def snapshot(server_pid: int) -> dict[str, float] | None:
    """CPU seconds so far of the server process (``front_end``) and of all its descendants (``models``);
    None where ``/proc`` cannot tell."""
    if not (PROC / str(server_pid) / "stat").is_file():
        return None
    return {
        "front_end": _cpu_seconds(server_pid),
        "models": sum(_cpu_seconds(child) for child in _descendants(server_pid)),
    }


def resident_mb(server_pid: int) -> float | None:
    """Resident memory (VmRSS) of the server process and its descendants together, in MB; None where
    ``/proc`` cannot tell. Pages the processes share (the model files, shared memory) count once per process."""
    total = 0
    for pid in [server_pid, *_descendants(server_pid)]:
        try:
            status = (PROC / str(pid) / "status").read_text()
        except OSError:
            continue
        total += next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
    return round(total / 1024, 1) if total else None


def per_request(before: dict | None, after: dict | None, requests: int) -> dict[str, float] | None:
    """CPU milliseconds per request on each side between two snapshots (None without both, or no request).

    A model process that started or ended between the snapshots is not counted right; the benchmark
    takes both while the same server runs with all its instances loaded.
    """
    if before is None or after is None or requests <= 0:
        return None
    return {side: round((after[side] - before[side]) * 1000 / requests, 2) for side in ("front_end", "models")}
