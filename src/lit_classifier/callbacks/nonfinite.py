"""What a NaN or infinite training loss does, and why no checkpoint of a ruined run is ever written.

Checking ``torch.isfinite(loss)`` on the host every step is a device sync, which a launch-bound
small classifier cannot afford. So:

- ``stop`` on a GPU: each step copies its "finite" flag to pinned host memory without blocking
  and records a CUDA event; the *next* step (or a checkpoint save, or the epoch end) reads the
  previous flag, by then normally long computed. The error names the exact step that failed
  (epoch, ``batch_idx``, ``global_step``, recorded on the host when the step was queued).
- ``stop`` on the CPU: the flag is read at once (there is no device to wait for).
- ``skip``: deciding to skip is a host decision, so this mode reads the flag every step (one
  sync per step on a GPU, the price of the option). A skipped batch's gradients are dropped before
  the optimizer step (no update, no momentum, no weight decay), it has no place in the epoch's
  training metrics, and the count is reported at the epoch end. One process only: under DDP the
  other processes would wait for the skipped gradients.

A finite loss can still leave exploded weights (a learning rate of 1e30 on an epoch's last step),
so the weights, the buffers and the last validation loss are checked before every checkpoint save
(one sync), once per optimizer step: at an epoch's end validation, the save and the epoch end
share one check. If not finite, training stops before the file is written, so nothing newer
replaces (or rotates away) the last good checkpoint, which the error names.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback
from torch import Tensor
from torch.optim import Optimizer

from lit_classifier.errors import NonFiniteLossError

NonFiniteMode = Literal["stop", "skip"]


@dataclass(frozen=True)
class TrainingStep:
    """Where a training batch is: ``epoch`` counts from 1 (as the summary lines do); ``batch_idx``
    and ``global_step`` are Lightning's, from 0 (optimizer steps done before this batch)."""

    epoch: int
    batch_idx: int
    global_step: int

    def __str__(self) -> str:
        return f"epoch {self.epoch}, batch_idx {self.batch_idx}, global_step {self.global_step}"


class NonFiniteGuard(Callback):
    """What a NaN or infinite training loss does: stop the run, naming the step, or skip the batch.

    Neither mode writes a checkpoint of weights that are no longer finite.

    Args:
        mode: ``stop`` training at the step whose loss is NaN or infinite, with an error naming it,
            or ``skip`` such batches and count them.
    """

    def __init__(self, mode: NonFiniteMode = "stop") -> None:
        if mode not in ("stop", "skip"):
            raise ValueError(f"nonfinite mode must be 'stop' or 'skip', got {mode!r}")
        self.mode = mode
        self.skipped: list[TrainingStep] = []
        self._drop_gradients = False
        self._flags: list[Tensor] = []  # two pinned host buffers, used in turn
        self._pending: tuple[Tensor, torch.cuda.Event, TrainingStep] | None = None
        self._batch_idx = 0
        self._state_checked_at: int | None = None  # the global step whose state was found finite

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if self.mode == "skip" and trainer.world_size > 1:
            # A process that skips its update would leave the others waiting in DDP's all-reduce.
            raise ValueError("--nonfinite.mode skip works on one process only; use 'stop' under DDP")

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        self._batch_idx = batch_idx

    def on_before_backward(self, trainer: L.Trainer, pl_module: L.LightningModule, loss: Tensor) -> None:
        self.check()
        step = TrainingStep(trainer.current_epoch + 1, self._batch_idx, trainer.global_step)
        if self.mode == "skip" or loss.device.type != "cuda":
            # Decided on the host now: free on the CPU, one sync per step on a GPU (skip only).
            if math.isfinite(loss.item()):
                return
            if self.mode == "stop":
                raise _stopped(step)
            self.skipped.append(step)
            self._drop_gradients = True
            return
        if not self._flags:
            self._flags = [torch.empty((), dtype=torch.bool, pin_memory=True) for _ in range(2)]
        flag = self._flags[step.global_step % 2]
        flag.copy_(torch.isfinite(loss.detach()), non_blocking=True)
        event = torch.cuda.Event()
        event.record()
        self._pending = (flag, event, step)

    def on_before_optimizer_step(
        self, trainer: L.Trainer, pl_module: L.LightningModule, optimizer: Optimizer
    ) -> None:
        if self._drop_gradients:  # torch's optimizers skip parameters without a gradient entirely
            for group in optimizer.param_groups:
                for parameter in group["params"]:
                    parameter.grad = None
            self._drop_gradients = False

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.check_state(trainer, pl_module)  # before ModelCheckpoint saves at an epoch without validation
        if self.skipped:
            first, count = self.skipped[0], len(self.skipped)
            self.skipped = []
            pl_module.print(
                f"epoch {first.epoch}: skipped {count} batch{'es' if count > 1 else ''} with a non-finite "
                f"loss (the first at batch_idx {first.batch_idx}, global_step {first.global_step})"
            )

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # Before ModelCheckpoint's own hook (Lightning runs checkpoint callbacks last).
        if trainer.state.fn == "fit" and not trainer.sanity_checking:
            self._state_checked_at = None  # a new validation loss
            self.check_state(trainer, pl_module)

    def on_save_checkpoint(
        self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        self.check_state(trainer, pl_module)

    def check_state(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Raise before a checkpoint of a ruined state is written (and before any rotation)."""
        self.check()
        if self._state_checked_at == trainer.global_step:  # no step since it was found finite
            return
        ruined = self.ruined_state(trainer, pl_module)
        if ruined is not None:
            raise NonFiniteLossError(
                f"the {ruined} became NaN or infinite by epoch {trainer.current_epoch + 1}, global_step "
                f"{trainer.global_step}, although the training loss was finite: training stopped there, "
                "and no checkpoint was written after it. Lower the learning rate or check the schedule"
            )
        self._state_checked_at = trainer.global_step

    @staticmethod
    def ruined_state(trainer: L.Trainer, pl_module: L.LightningModule) -> str | None:
        """What is not finite: ``"weights"``, ``"validation loss (...)"``, or ``None`` (one host sync)."""
        tensors = [t for t in (*pl_module.parameters(), *pl_module.buffers()) if t.is_floating_point()]
        if tensors and not bool(torch.stack([t.isfinite().all() for t in tensors]).all()):
            return "weights"
        val_loss = trainer.callback_metrics.get("val_loss")
        if val_loss is not None and not bool(torch.isfinite(val_loss)):
            return f"validation loss ({val_loss})"
        return None

    def check(self) -> None:
        """Raise if the last queued GPU step's loss was not finite (waits for that step only)."""
        if self._pending is None:
            return
        flag, event, step = self._pending
        self._pending = None
        event.synchronize()
        if not bool(flag):
            raise _stopped(step)


def _stopped(step: TrainingStep) -> NonFiniteLossError:
    return NonFiniteLossError(
        f"the training loss is NaN or infinite at {step}: training stopped there, and no checkpoint "
        "was written after it. Lower the learning rate, check the data, or pass "
        "--nonfinite.mode skip to skip such batches"
    )
