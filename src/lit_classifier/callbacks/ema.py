"""An exponential moving average of the weights, validated and checkpointed in their place.

    lit-classifier fit --ema.decay 0.99

After every optimizer step the average moves ``1 - decay`` of the way to the new weights (it spans
about ``1 / (1 - decay)`` steps: 100 for 0.99). Validation runs on the average, the checkpoint's
``state_dict`` holds it (so ``validate``, ``test``, ``predict`` and export use it), and the weights
training goes on from are kept beside it, in Lightning's layout (``current_model_state``,
``averaging_state``), so that a resume continues exactly.

This is Lightning's ``EMAWeightAveraging``, changed where it does not fit every run of this package:

- it is every run's callback and does nothing unless ``decay`` is given;
- the average is built when fitting starts, after ``ClassifierModule.setup`` has sized the head and
  materialised lazy layers, and after the move to the device (Lightning builds it in ``setup``,
  before both: a copy of the unsized network, which the first validation fails to swap in, and on
  the CPU while the network trains on a GPU);
- a checkpoint written during a training step holds the average of that step, whichever callback
  writes it: ``interrupted.ckpt`` is saved in the same hook as the update, by an earlier callback;
- a resume must keep the decay its checkpoint was trained with: a checkpoint's ``state_dict`` is its
  average, and training on from it without the option would silently swap weights.
"""

from __future__ import annotations

from typing import Any

import lightning as L
from lightning.pytorch.callbacks import EMAWeightAveraging, ModelCheckpoint
from lightning.pytorch.trainer.states import TrainerFn

from lit_classifier.errors import ConfigError
from lit_classifier.framework import callbacks_of


class WeightEMA(EMAWeightAveraging):
    """Keeps an exponential moving average of the weights (and buffers) for validation and checkpoints.

    Args:
        decay: how much of the average each step keeps, in (0, 1); ``None`` (the default) keeps
            no average.
        update_every_n_steps: update the average after every this many optimizer steps.
        update_starting_at_step: the first optimizer step (from 0) that updates it; the average
            starts as a copy of the weights then.
        use_buffers: average the buffers too (batch norm's running statistics); ``False`` keeps the
            network's own.
    """

    def __init__(
        self,
        decay: float | None = None,
        update_every_n_steps: int = 1,
        update_starting_at_step: int | None = None,
        use_buffers: bool = True,
    ) -> None:
        if decay is not None and not 0 < decay < 1:
            raise ConfigError(f"--ema.decay must be between 0 and 1, got {decay}")
        if update_every_n_steps < 1:
            raise ConfigError(f"--ema.update_every_n_steps must be at least 1, got {update_every_n_steps}")
        super().__init__(
            use_buffers=use_buffers,
            decay=0.0 if decay is None else decay,
            update_every_n_steps=update_every_n_steps,
            update_starting_at_step=update_starting_at_step,
        )
        self.decay = decay
        self._averaging = False  # the average exists: from the start of fitting
        self._resumed: dict[str, Any] | None = None  # a checkpoint's average, loaded once it exists

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        # Each fit starts afresh (a resume restores the state after this); the average is built later.
        self._averaging, self._resumed = False, None
        super().load_state_dict({"latest_update_step": 0})
        averaged = self.decay is not None and stage == "fit"
        callbacks = callbacks_of(trainer) if averaged else []
        if any(isinstance(c, ModelCheckpoint) and c.save_weights_only for c in callbacks):
            raise ConfigError(
                "--ema.decay needs full checkpoints: a weights-only checkpoint is written without "
                "the average (drop --checkpoint.save_weights_only)"
            )

    def on_load_checkpoint(
        self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        if trainer.state.fn != TrainerFn.FITTING:  # evaluating a checkpoint uses its average
            return
        saved = checkpoint.get("callbacks", {}).get(self.state_key, {}).get("decay")
        averaged = "current_model_state" in checkpoint and "averaging_state" in checkpoint
        if averaged and saved != self.decay:
            trained = "an average of its weights" if saved is None else f"--ema.decay {saved}"
            given = "none" if self.decay is None else f"--ema.decay {self.decay}"
            raise ConfigError(
                f"this checkpoint was trained with {trained} and this command gives {given}: its "
                "weights are the average, so resume with the decay it was trained with"
            )
        # Loaded once the average exists; a checkpoint without one starts one from its weights.
        self._resumed = checkpoint if averaged and self.decay is not None else None

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.decay is None:
            return
        super().setup(trainer, pl_module, "fit")  # the network is sized and on its device by now
        self._averaging = True
        if self._resumed is not None:
            # The average, and the weights training goes on from, before the optimizer is restored.
            super().on_load_checkpoint(trainer, pl_module, self._resumed)
            self._resumed = None

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        if self._averaging:
            super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._averaging:
            super().on_train_epoch_end(trainer, pl_module)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._averaging:  # the trained module keeps the average, as its checkpoint does
            super().on_train_end(trainer, pl_module)

    def on_save_checkpoint(
        self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        if not self._averaging:
            return
        if trainer.training:  # count this step first; the update runs once per step however often called
            super().on_train_batch_end(trainer, pl_module, None, None, 0)
        super().on_save_checkpoint(trainer, pl_module, checkpoint)

    def state_dict(self) -> dict[str, Any]:
        # Without a decay nothing is saved, so checkpoints of runs without an average stay as they were.
        return {} if self.decay is None else {**super().state_dict(), "decay": self.decay}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if self.decay is not None:
            super().load_state_dict(state_dict)
