"""The end of a multi-process run: the process group it started is destroyed before the process exits.

Lightning destroys an NCCL process group when the interpreter exits but leaves a gloo group (DDP on
CPUs) to the interpreter's finalisation, where gloo's worker threads can abort a run that succeeded
with ``terminate called without an active exception`` (exit status -6, pytorch/pytorch#190489).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch.distributed as dist


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
