"""One line per epoch, like the classic recipe's print, and the history behind it."""

from __future__ import annotations

import time

import lightning as L
from lightning.pytorch.callbacks import Callback

#: The metrics of the summary line, in order, as logged by ``ClassifierModule``.
SUMMARY_KEYS = ("train_loss", "train_acc", "val_loss", "val_acc")


class EpochSummary(Callback):
    """Prints ``epoch 3/8 | train loss 0.1234 acc 0.9612 | val loss ... | 1.2 s`` after each epoch.

    Lightning calls callbacks' ``on_train_epoch_end`` *before* the module's, where the training
    metrics are computed, so the line of an epoch is printed when the next one starts (and at the
    end of training). ``history`` keeps one dict per finished epoch, for ``train_model``.
    """

    def __init__(self) -> None:
        self.history: list[dict[str, float]] = []
        self._started = 0.0
        self._seconds: float | None = None

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._started = time.perf_counter()  # a run resumed mid-epoch starts no new epoch

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._report(trainer, pl_module)
        self._started = time.perf_counter()

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._seconds = time.perf_counter() - self._started

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._report(trainer, pl_module)

    def _report(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._seconds is None:  # no finished epoch since the last line
            return
        seconds, self._seconds = self._seconds, None
        metrics = trainer.callback_metrics
        # Epochs finished so far (an int), counted by the Trainer: right after a resume too.
        row: dict[str, float] = {"epoch": trainer.current_epoch, "seconds": seconds}
        row.update({key: float(metrics[key]) for key in SUMMARY_KEYS if key in metrics})
        self.history.append(row)
        pl_module.print(format_row(row, trainer.max_epochs))


def format_row(row: dict[str, float], max_epochs: int | None) -> str:
    """``epoch 3/8 | train loss 0.1234 acc 0.9612 | val loss 0.0876 acc 0.9741 | 1.2 s``."""
    parts = [epoch_label(int(row["epoch"]), max_epochs)]
    for stage in ("train", "val"):
        if f"{stage}_loss" in row:
            parts.append(f"{stage} loss {row[f'{stage}_loss']:.4f} acc {row[f'{stage}_acc']:.4f}")
    parts.append(f"{row['seconds']:.1f} s")
    return " | ".join(parts)


def epoch_label(epoch: int, max_epochs: int | None) -> str:
    """``epoch 3/8``; ``epoch 3`` when training has no set number of epochs."""
    return f"epoch {epoch}/{max_epochs}" if max_epochs and max_epochs > 0 else f"epoch {epoch}"
