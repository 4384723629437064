"""How many threads each onnxruntime session gets, and whether its threads spin.

Decided once, here, for the served classifier, the in-process ceiling and the peer services of
the serving benchmark: ``threads = 0`` means "this process's share of the cores" (the cores it
may run on, capped by a container's CPU limit, divided by the instances that share them, at
least 1), not onnxruntime's own default of every core for every session, which oversubscribes
the CPU when instances run side by side; ``threads = -1`` means every core for each instance,
which pays where an instance has the cores to itself (the fused step's lone ticket on an idle
server, measured in docs/benchmarks.md). Spinning (threads busy-waiting for work between
operators) only pays when a session has the cores to itself; where processes share cores it burns
the CPU the others need. Here it lasts only while a ``run`` does.
"""

import math
import os
from pathlib import Path

from .contract import INTRA_OP_THREADS_PARAMETER, THREAD_SPINNING_PARAMETER

SPINNING_CONFIG_KEYS = ("session.intra_op.allow_spinning", "session.inter_op.allow_spinning")
FORCE_SPINNING_STOP = "session.force_spinning_stop"
CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")


def cgroup_cpu_limit(path: Path = CGROUP_CPU_MAX) -> int | None:
    """Whole cores of this cgroup's CPU quota (cgroup v2 ``cpu.max``, rounded up), or None without one.

    A Kubernetes CPU limit (or ``docker run --cpus``) is such a quota: the process still sees every
    core of the node in its affinity, but may use only this many at a time.
    """
    try:
        quota, period = path.read_text().split()[:2]
        return max(1, math.ceil(int(quota) / int(period)))
    except (OSError, ValueError, ZeroDivisionError):  # no cgroup v2 file, "max" (no quota), unreadable
        return None


def available_cores() -> int:
    """The cores this process may run on: its CPU affinity, capped by its cgroup's CPU quota."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return min(cores, cgroup_cpu_limit() or cores)


def intra_op_threads(configured: int, instances: int, cores: int | None = None) -> int:
    """The intra-op thread count: ``configured`` when positive, every core for -1, else (0) the
    instance's share of ``cores``."""
    if configured > 0:
        return configured
    cores = cores or available_cores()
    return cores if configured < 0 else max(1, cores // max(1, instances))


def spinning_entries(spinning: bool) -> dict[str, str]:
    """Session config entries that switch thread spinning on or off. On, the threads spin only while a
    ``run`` lasts (``FORCE_SPINNING_STOP``): between requests they sleep instead of burning the cores."""
    value = "1" if spinning else "0"
    return {**{key: value for key in SPINNING_CONFIG_KEYS}, FORCE_SPINNING_STOP: value}


def session_options(ort, parameters: dict[str, str], instances: int):
    """onnxruntime ``SessionOptions`` for a served model from its model parameters (``ort`` is the
    onnxruntime module, passed in: this package does not import it)."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = intra_op_threads(int(parameters.get(INTRA_OP_THREADS_PARAMETER, "0")), instances)
    for key, value in spinning_entries(parameters.get(THREAD_SPINNING_PARAMETER, "0") == "1").items():
        options.add_session_config_entry(key, value)
    return options
