"""What a NaN or infinite training loss does: stop at that step (default), or skip that batch.

Checking ``torch.isfinite(loss)`` on the host every step is a device sync, which a launch-bound
small classifier cannot afford. So:

- ``stop`` on a GPU: each step copies its "finite" flag to pinned host memory without blocking
  and records a CUDA event; the *next* step (or a checkpoint save, or the epoch end) reads the
  previous flag, by then normally long computed. The error names the exact step that failed
  (epoch, ``batch_idx``, ``global_step``, recorded on the host when the step was queued); the
  failed step and at most one more ran on the bad weights, and no checkpoint is written after
  it, so the last checkpoint on disk is the last good one.
- ``stop`` on the CPU: the flag is read at once (there is no device to wait for).
- ``skip``: deciding to skip is a host decision, so this mode reads the flag every step (one
  sync per step on a GPU, the price of the option). A skipped batch gets no backward pass, no
  optimizer update and no place in the epoch's metrics; the count is reported at the epoch end.
  One process only: under DDP the other processes would wait for the skipped gradients.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import lightning as L
import torch
from torch import Tensor

NonFiniteMode = Literal["stop", "skip"]


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or infinite; names the step."""


@dataclass(frozen=True)
class TrainingStep:
    """Where a training batch is: ``epoch`` counts from 1 (as the summary lines do); ``batch_idx``
    and ``global_step`` are Lightning's, from 0 (optimizer steps done before this batch)."""

    epoch: int
    batch_idx: int
    global_step: int

    def __str__(self) -> str:
        return f"epoch {self.epoch}, batch_idx {self.batch_idx}, global_step {self.global_step}"


class NonFiniteGuard:
    """Applies the ``stop`` or ``skip`` policy to each training loss; see the module docstring."""

    def __init__(self, mode: NonFiniteMode = "stop") -> None:
        if mode not in ("stop", "skip"):
            raise ValueError(f"nonfinite must be 'stop' or 'skip', got {mode!r}")
        self.mode = mode
        self.skipped: list[TrainingStep] = []
        self._flags: list[Tensor] = []  # two pinned host buffers, used in turn
        self._pending: tuple[Tensor, torch.cuda.Event, TrainingStep] | None = None

    def accept(self, loss: Tensor, trainer: L.Trainer, batch_idx: int) -> bool:
        """Whether to train on this batch; raises for an earlier or this non-finite loss (stop)."""
        self.check()
        if self.mode == "skip" and trainer.world_size > 1:
            # A process that skips its backward pass would leave the others waiting in DDP's
            # gradient all-reduce for ever.
            raise ValueError("nonfinite='skip' works on one process only; use 'stop' under DDP")
        if self.mode == "skip" or loss.device.type != "cuda":
            # Decided on the host now: free on the CPU, one sync per step on a GPU (skip only).
            if math.isfinite(loss.item()):
                return True
            step = _where(trainer, batch_idx)
            if self.mode == "stop":
                raise _stopped(step)
            self.skipped.append(step)
            return False
        if not self._flags:
            self._flags = [torch.empty((), dtype=torch.bool, pin_memory=True) for _ in range(2)]
        step = _where(trainer, batch_idx)
        flag = self._flags[step.global_step % 2]
        flag.copy_(torch.isfinite(loss.detach()), non_blocking=True)
        event = torch.cuda.Event()
        event.record()
        self._pending = (flag, event, step)
        return True

    def check(self) -> None:
        """Raise if the last queued step's loss was not finite (waits for that step only)."""
        if self._pending is None:
            return
        flag, event, step = self._pending
        self._pending = None
        event.synchronize()
        if not bool(flag):
            raise _stopped(step)

    def epoch_report(self) -> str | None:
        """The end-of-epoch line about skipped batches (``None`` when there were none); resets."""
        self.check()
        if not self.skipped:
            return None
        first, count = self.skipped[0], len(self.skipped)
        self.skipped = []
        return (
            f"epoch {first.epoch}: skipped {count} batch{'es' if count > 1 else ''} with a non-finite "
            f"loss (the first at batch_idx {first.batch_idx}, global_step {first.global_step})"
        )


def _where(trainer: L.Trainer, batch_idx: int) -> TrainingStep:
    return TrainingStep(trainer.current_epoch + 1, batch_idx, trainer.global_step)


def _stopped(step: TrainingStep) -> NonFiniteLossError:
    return NonFiniteLossError(
        f"the training loss is NaN or infinite at {step}: training stopped there, and no checkpoint "
        "was written after it. Lower the learning rate, check the data, or pass "
        "--model.nonfinite skip to skip such batches"
    )
