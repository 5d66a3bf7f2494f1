"""The run's checkpoints: Lightning's ``ModelCheckpoint``, keeping one file per run by default."""

from __future__ import annotations

from typing import Any, Literal

import lightning as L
from lightning.pytorch.callbacks import ModelCheckpoint

from lit_classifier.callbacks.interrupt import ends_epoch


class RunCheckpoint(ModelCheckpoint):
    """Saves the run's checkpoint after every epoch, as Lightning's ``ModelCheckpoint`` does.

    One file per run by default: the newest ``epoch=N-step=M.ckpt``, with ``last.ckpt`` a link to
    it (a copy doubled the disk a run used: 2 x 45 MB for a ResNet-18). Ask for more with its
    options (``--checkpoint.monitor val_acc --checkpoint.mode max --checkpoint.save_top_k 3``).

    Args:
        save_last: ``"link"``: ``last.ckpt`` links to the newest checkpoint; ``True``: a copy.
        kwargs: any other option of ``ModelCheckpoint``.
    """

    def __init__(self, save_last: bool | Literal["link"] | None = "link", **kwargs: Any) -> None:
        super().__init__(save_last=save_last, **kwargs)

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        # A step-triggered save after an epoch's last batch would resume into the next epoch without
        # this one's validation; the epoch-end save follows in a moment and resumes exactly.
        if not ends_epoch(trainer):
            super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
