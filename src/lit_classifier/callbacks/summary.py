"""One line per epoch, like the classic recipe's print, and the history behind it; one line for what
Lightning's stock callbacks decided, and their monitors checked before any work (``stock``)."""

from __future__ import annotations

import time

import lightning as L
from lightning.pytorch.callbacks import Callback

from lit_classifier.callbacks import stock

#: The metrics of the summary line, in order, as logged by ``ClassifierModule``.
SUMMARY_KEYS = ("train_loss", "train_acc", "val_loss", "val_acc")


class EpochSummary(Callback):
    """Prints ``epoch 3/8 | train loss 0.1234 acc 0.9612 | val loss ... | 1.2 s`` after each epoch.

    Lightning calls callbacks' ``on_train_epoch_end`` *before* the module's, where the training
    metrics are computed, so the line of an epoch is printed when the next one starts (and at the
    end of training). ``history`` keeps one dict per finished epoch, for ``train_model``. An epoch
    that did not validate (``--trainer.check_val_every_n_epoch``) shows no validation results:
    those the Trainer still holds are an earlier epoch's.
    """

    def __init__(self) -> None:
        self.history: list[dict[str, float]] = []
        self._started = 0.0
        self._seconds: float | None = None
        self._validated = False  # since the last line
        self._max_epochs: int | None = None  # as the epoch ended

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if stage == "fit":  # after the data module's setup: the class count is known
            stock.check_monitors(trainer, pl_module)

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._started = time.perf_counter()  # a run resumed mid-epoch starts no new epoch
        found = stock.batch_size_line(trainer)  # a BatchSizeFinder has run in on_fit_start
        if found:
            pl_module.print(found)

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._report(trainer, pl_module)
        self._started = time.perf_counter()

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._validated = self._validated or not trainer.sanity_checking

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._seconds = time.perf_counter() - self._started
        # Lightning's StochasticWeightAveraging adds an epoch (batch norm's statistics of the averaged
        # weights) and takes it off again in its `on_train_end`, before the last line is printed.
        self._max_epochs = trainer.max_epochs

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._report(trainer, pl_module)
        reason = stock.stop_reason(trainer)
        if reason:
            where = epoch_label(trainer.current_epoch, trainer.max_epochs)
            pl_module.print(f"stopped early at {where}: {reason}")
            best = stock.best_line(trainer)
            if best:
                pl_module.print(best)
        checkpoints = stock.checkpoint_line(trainer)
        if checkpoints:
            pl_module.print(checkpoints)

    def _report(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._seconds is None:  # no finished epoch since the last line
            return
        seconds, self._seconds = self._seconds, None
        validated, self._validated = self._validated, False
        metrics = trainer.callback_metrics
        # Epochs finished so far (an int), counted by the Trainer: right after a resume too.
        row: dict[str, float] = {"epoch": trainer.current_epoch, "seconds": seconds}
        keys = [key for key in SUMMARY_KEYS if validated or not key.startswith("val_")]
        row.update({key: float(metrics[key]) for key in keys if key in metrics})
        self.history.append(row)
        pl_module.print(format_row(row, self._max_epochs))


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
