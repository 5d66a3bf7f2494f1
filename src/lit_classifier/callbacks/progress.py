"""A progress bar that shows the running training loss without slowing the step."""

from __future__ import annotations

import sys
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import TQDMProgressBar

from lit_classifier.metrics import StageMetrics


class ProgressBar(TQDMProgressBar):
    """Lightning's tqdm bar, plus the epoch's running loss, refreshed every ``refresh_rate`` steps.

    Reading the loss is a host sync, so it happens only when the bar redraws. When standard error is
    not a terminal (CI logs, ``nohup``) the bar stays quiet and the epoch summary line remains.

    Args:
        refresh_rate: redraw every this many steps; 0 turns the bar off.
    """

    def __init__(self, refresh_rate: int = 10) -> None:
        super().__init__(refresh_rate=refresh_rate)
        if not sys.stderr.isatty():
            self.disable()

    def get_metrics(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, Any]:
        metrics = super().get_metrics(trainer, pl_module)
        metrics.pop("v_num", None)
        train_metrics = getattr(pl_module, "train_metrics", None)
        if trainer.training and isinstance(train_metrics, StageMetrics) and train_metrics.updated:
            metrics["loss"] = f"{train_metrics.running_loss():.4f}"
        return metrics
