"""A progress bar that shows the running training loss and throughput without slowing the step."""

from __future__ import annotations

import sys
import time
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import TQDMProgressBar
from torch import Tensor

from lit_classifier.metrics import StageMetrics


class ProgressBar(TQDMProgressBar):
    """Lightning's tqdm bar, plus the epoch's running loss and images per second.

    Reading the loss is a host sync, so it happens only when the bar redraws (every
    ``refresh_rate`` steps). Images are counted on the host from the batch shapes, which costs no
    sync. When standard error is not a terminal (CI logs, ``nohup``) the bar stays quiet and the
    epoch summary line remains.

    Args:
        refresh_rate: redraw every this many steps; 0 turns the bar off.
    """

    def __init__(self, refresh_rate: int = 10) -> None:
        super().__init__(refresh_rate=refresh_rate)
        self._images = 0
        self._started = 0.0
        if not sys.stderr.isatty():
            self.disable()

    def enable(self) -> None:
        # Lightning's learning-rate finder enables the bar when it is done: only in a terminal.
        if sys.stderr.isatty():
            super().enable()

    def on_train_epoch_start(self, trainer: L.Trainer, *args: Any) -> None:
        super().on_train_epoch_start(trainer, *args)
        self._images = 0
        self._started = time.perf_counter()

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        self._images += _batch_size(batch)
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)

    def get_metrics(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, Any]:
        metrics = super().get_metrics(trainer, pl_module)
        metrics.pop("v_num", None)
        train_metrics = getattr(pl_module, "train_metrics", None)
        if trainer.training and isinstance(train_metrics, StageMetrics) and train_metrics.updated:
            metrics["loss"] = f"{train_metrics.running_loss():.4f}"
        seconds = time.perf_counter() - self._started
        if trainer.training and self._images and seconds > 0:
            metrics["img/s"] = f"{self._images / seconds:.0f}"
        return metrics


def _batch_size(batch: Any) -> int:
    """Images in a batch, from its shape: ``(images, labels)``, a tensor, or 0 when unknown."""
    images = batch if isinstance(batch, Tensor) else batch[0] if isinstance(batch, list | tuple) else None
    return int(images.shape[0]) if isinstance(images, Tensor) and images.ndim else 0
