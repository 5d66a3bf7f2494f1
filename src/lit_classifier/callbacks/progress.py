"""A progress bar that shows the running training loss and throughput without slowing the step."""

from __future__ import annotations

import os
import sys
import time
from typing import IO, Any

import lightning as L
from lightning.pytorch.callbacks import TQDMProgressBar
from lightning.pytorch.callbacks.progress.tqdm_progress import Tqdm
from torch import Tensor

from lit_classifier.callbacks.summary import epoch_label
from lit_classifier.module import ClassifierModule

#: The size a bar assumes for a terminal that reports none (columns, lines), as ``shutil`` does.
FALLBACK_SIZE = (80, 24)


class ProgressBar(TQDMProgressBar):
    """Lightning's tqdm bar, plus the epoch's running loss and images per second.

    Reading the loss is a host sync, so it happens only when the bar redraws (every
    ``refresh_rate`` steps). Images are counted on the host from the batch shapes, which costs no
    sync. When standard error is not a terminal (CI logs, ``nohup``) the bar stays quiet and the
    epoch summary line remains. A terminal that reports no size (a bare pseudo-terminal, as some
    containers and tools open) gets an 80-column bar: tqdm would draw nothing there. Lines printed
    while no bar is open (the pictures line, after the last epoch) are printed plainly; Lightning's
    bar would drop them.

    Args:
        refresh_rate: redraw every this many steps; 0 turns the bar off.
    """

    def __init__(self, refresh_rate: int = 10) -> None:
        super().__init__(refresh_rate=refresh_rate)
        self._images = 0
        self._started = 0.0
        self._open: list[Tqdm] = []  # the bars drawn so far that are not closed yet
        if not sys.stderr.isatty():
            self.disable()

    def enable(self) -> None:
        # Lightning's learning-rate finder enables the bar when it is done: only in a terminal.
        if sys.stderr.isatty():
            super().enable()

    def init_sanity_tqdm(self) -> Tqdm:
        return self._sized(super().init_sanity_tqdm())

    def init_train_tqdm(self) -> Tqdm:
        return self._sized(super().init_train_tqdm())

    def init_validation_tqdm(self) -> Tqdm:
        return self._sized(super().init_validation_tqdm())

    def init_test_tqdm(self) -> Tqdm:
        return self._sized(super().init_test_tqdm())

    def init_predict_tqdm(self) -> Tqdm:
        return self._sized(super().init_predict_tqdm())

    def _sized(self, bar: Tqdm) -> Tqdm:
        """``bar``, measuring its terminal with a fallback size, and kept to print through."""
        if not bar.disable:  # a disabled bar has no stream
            bar.dynamic_ncols = terminal_size
            bar.ncols, bar.nrows = terminal_size(bar.fp)
        self._open = [*(each for each in self._open if not each.disable), bar]
        return bar

    def print(self, *args: Any, sep: str = " ", **kwargs: Any) -> None:
        if any(not bar.disable for bar in self._open):
            super().print(*args, sep=sep, **kwargs)  # above the bar, which is drawn again below
        else:
            kwargs.pop("nolock", None)  # tqdm's, for writing through a bar
            print(*args, sep=sep, **kwargs)

    def on_train_epoch_start(self, trainer: L.Trainer, *args: Any) -> None:
        super().on_train_epoch_start(trainer, *args)
        # Numbered as the epoch lines are ("epoch 3/8"), not from 0 as Lightning's bar is.
        self.train_progress_bar.set_description(epoch_label(trainer.current_epoch + 1, trainer.max_epochs))
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
        if trainer.training and isinstance(pl_module, ClassifierModule) and pl_module.train_metrics.updated:
            metrics["loss"] = f"{pl_module.train_metrics.running_loss():.4f}"
        seconds = time.perf_counter() - self._started
        if trainer.training and self._images and seconds > 0:
            metrics["img/s"] = f"{self._images / seconds:.0f}"
        return metrics


def terminal_size(stream: IO[str]) -> tuple[int, int]:
    """tqdm's width and height for ``stream``: its terminal's, less the column and line tqdm keeps
    free, or ``FALLBACK_SIZE``'s where the terminal reports 0 (tqdm would then draw nothing)."""
    try:
        columns, lines = os.get_terminal_size(stream.fileno())
    except (AttributeError, OSError, ValueError):
        columns, lines = 0, 0
    return (columns or FALLBACK_SIZE[0]) - 1, (lines or FALLBACK_SIZE[1]) - 1


def _batch_size(batch: Any) -> int:
    """Images in a batch, from its shape: ``(images, labels)``, a tensor, or 0 when unknown."""
    images = batch if isinstance(batch, Tensor) else batch[0] if isinstance(batch, list | tuple) else None
    return int(images.shape[0]) if isinstance(images, Tensor) and images.ndim else 0
