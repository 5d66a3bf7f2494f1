"""The end of a multi-process run: the process group it started is destroyed before the process exits,
and the processes it launched on this machine have ended before the command does.

Lightning destroys an NCCL process group when the interpreter exits but leaves a gloo group (DDP on
CPUs) to the interpreter's finalisation, where gloo's worker threads can abort a run that succeeded
with ``terminate called without an active exception`` (exit status -6, pytorch/pytorch#190489).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager, suppress

import lightning as L
import torch.distributed as dist

from lit_classifier.framework import launched_processes

#: How long the first process waits for the others it launched once its own work is done.
LAUNCHED_EXIT_S = 60.0


def _initialized() -> bool:
    return dist.is_available() and dist.is_initialized()


@contextmanager
def released_process_group() -> Iterator[None]:
    """Destroy the process group started inside the block, however the block ends.

    A group that existed before the block (a script that called ``init_process_group`` itself and
    then trains) belongs to its caller and is kept.
    """
    started_here = not _initialized()
    try:
        yield
    finally:
        if started_here and _initialized():
            dist.destroy_process_group()


def wait_for_launched(trainer: L.Trainer) -> None:
    """Wait until the processes that Lightning's launcher started for the other ranks on this machine
    (DDP on CPUs, or GPUs without ``torchrun``) have exited. Lightning leaves them to end on their own,
    so a command could return to the shell (and a test's check find them running) while they were
    still shutting down; one that has not ended within ``LAUNCHED_EXIT_S`` is left to its launcher's
    own watch, which ends the others when one fails."""
    for process in launched_processes(trainer):
        with suppress(subprocess.TimeoutExpired):
            process.wait(timeout=LAUNCHED_EXIT_S)
