"""Several training processes with PyTorch DistributedDataParallel: who this process is, its rows, its group.

``torchrun`` (or ``ticket-classifier train --nproc N``) starts the processes and sets ``RANK``,
``LOCAL_RANK`` and ``WORLD_SIZE``; without them training is one process, as it always was. Every
process builds the same global batches; each takes its share of every batch (:meth:`World.share`),
so N processes at global batch B take the steps that one process at batch B takes. The process of
rank 0 (the main process) alone writes into the output folder and logs.
"""

import gc
import logging
import os
from collections.abc import Mapping
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist

from ticket_classifier.errors import TicketClassifierError


@dataclass(frozen=True)
class World:
    """This process's place among the training processes (one process: rank 0 of 1)."""

    rank: int = 0
    local_rank: int = 0
    size: int = 1

    @property
    def is_main(self) -> bool:
        """True for the process that writes the checkpoint, the logs and the state (rank 0)."""
        return self.rank == 0

    def device(self) -> torch.device:
        """The GPU of this process's local rank, or the CPU where there is no GPU."""
        if not torch.cuda.is_available():
            return torch.device("cpu")
        if self.local_rank >= torch.cuda.device_count():
            raise TicketClassifierError(
                f"local rank {self.local_rank} has no GPU: this machine has {torch.cuda.device_count()}; "
                "start at most one training process per GPU"
            )
        return torch.device("cuda", self.local_rank)

    def check_batch_size(self, batch_size: int) -> None:
        """Refuse a global batch that the processes cannot share evenly."""
        if batch_size % self.size:
            raise TicketClassifierError(
                f"optimization.batch_size {batch_size} is the global batch and must divide evenly among the "
                f"{self.size} training processes: choose a multiple of {self.size}"
            )

    def share(self, rows: np.ndarray) -> tuple[np.ndarray, float]:
        """This process's rows of a global batch, and the factor its mean loss is multiplied by.

        Rank ``r`` takes ``rows[r::size]``. DDP averages the processes' gradients; with the factor
        ``size * len(share) / len(rows)`` that average is the gradient of the mean loss over the whole
        batch, also for a last batch that does not split evenly. A process left without a row (a
        last batch smaller than the world) runs one row with factor 0, to take part in the average.
        """
        share = rows[self.rank :: self.size]
        if len(share) == 0:
            return rows[:1], 0.0
        return share, self.size * len(share) / len(rows)


SINGLE_PROCESS = World()


def current_world(environ: Mapping[str, str] | None = None) -> World:
    """The world that ``torchrun`` describes in the environment; one process when it says nothing."""
    environ = os.environ if environ is None else environ
    if "WORLD_SIZE" not in environ:
        return SINGLE_PROCESS
    try:
        rank, size = int(environ["RANK"]), int(environ["WORLD_SIZE"])
        world = World(rank, int(environ.get("LOCAL_RANK", rank)), size)
    except (KeyError, ValueError):
        raise TicketClassifierError("WORLD_SIZE is set, so RANK must be too (integers, as torchrun sets)") from None
    if not 0 <= world.rank < world.size:
        raise TicketClassifierError(f"RANK {world.rank} is outside a world of {world.size} processes")
    return world


def is_main_process() -> bool:
    """True unless this is a training process of rank 1 or more."""
    return current_world().is_main


@contextmanager
def process_group(world: World):
    """The default process group of a multi-process run (NCCL on GPUs, gloo on CPUs), destroyed on exit.

    The rendezvous is torchrun's (``MASTER_ADDR``, ``MASTER_PORT``); one process needs no group. Drop
    every DDP wrapper before leaving (``Trainer.fit`` does).
    """
    if world.size == 1:
        yield
        return
    device = world.device()
    if device.type == "cuda":
        torch.cuda.set_device(device)
        dist.init_process_group("nccl", device_id=device)
    else:
        dist.init_process_group("gloo")
    try:
        yield
    finally:
        # DDP's reducer holds the group and sits in reference cycles: collected after the group was destroyed,
        # its reference would be the last, and gloo's destructor waits under the GIL for a worker thread that
        # may need the GIL to free a finished job's tensors (a hang, pytorch/pytorch#56297). Collect it first.
        gc.collect()
        dist.destroy_process_group()


@contextmanager
def main_process_logs(world: World):
    """Leave only warnings and errors to the log of a process other than the main one."""
    root = logging.getLogger()
    previous_level = root.level
    if not world.is_main:
        root.setLevel(logging.WARNING)
    try:
        yield
    finally:
        root.setLevel(previous_level)


def mean_over_processes(value: torch.Tensor, world: World) -> float:
    """The mean of a scalar over the processes (every process gets it); the value itself for one process."""
    value = value.detach()
    if world.size > 1:
        value = value.clone()
        dist.all_reduce(value)
        value /= world.size
    return float(value)


def from_main_process(value, world: World):
    """``value`` as the main process has it, on every process (the others pass anything, for example None)."""
    if world.size == 1:
        return value
    holder = [value]
    dist.broadcast_object_list(holder, src=0)
    return holder[0]
