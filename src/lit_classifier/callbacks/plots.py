"""Writes the pictures of a run (``lit_classifier.plots``) into its folder when training ends."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Callback
from torch import Tensor

from lit_classifier.checkpoints.runs import run_history
from lit_classifier.data.interfaces import datamodule_of
from lit_classifier.module import ClassifierModule
from lit_classifier.plots import (
    CONFUSION_PNG,
    CURVES_PNG,
    MISCLASSIFIED_PNG,
    Mistakes,
    SurestMistakes,
    denormalizer,
    write_plots,
)

# Matplotlib's figures are independent, but its font and text caches are shared: one drawing at a time.
_DRAWING = threading.Lock()


class RunPlots(Callback):
    """``learning_curves.png``, ``confusion_matrix.png`` and ``misclassified.png`` in the run folder.

    Nothing is re-run for them: the curves come from the logger's files (``metrics.csv``, TensorBoard's), the
    confusion matrix from the module's last validation (``val_metrics``, summed over all
    processes), and the misclassified images are kept during each validation of the fit, from
    the logits ``validation_step`` returns (``plots.SurestMistakes``, on the device). They are
    drawn on the first process only, once training ends; ``fast_dev_run`` writes no files, like
    Lightning's loggers.

    Args:
        enabled: write the pictures.
        count: how many misclassified images to show.
        background: draw in a thread, so that ``fit`` returns while the pictures are drawn (the line
            naming them is printed at once); ``wait()`` gives their (absolute) paths once written
            (``train_model`` does this: a notebook user has the trained model at once). Off, ``fit``
            returns with the pictures written.
    """

    def __init__(self, enabled: bool = True, count: int = 16, background: bool = False) -> None:
        self.enabled = enabled
        self.count = count
        self.background = background
        self.paths: list[Path] = []
        self._mistakes: SurestMistakes | None = None
        self._drawing: threading.Thread | None = None
        self._failure: BaseException | None = None

    def on_validation_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        fitting = trainer.state.fn == "fit" and not trainer.sanity_checking
        self._mistakes = SurestMistakes(self.count) if self.enabled and fitting else None

    def on_validation_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        # The batch as validation_step saw it (moved and prepared on the device), and its logits.
        if self._mistakes is not None and dataloader_idx == 0 and isinstance(outputs, Tensor):
            self._mistakes.add(batch[0], batch[1], outputs)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        quick = trainer.fast_dev_run  # type: ignore[attr-defined]  # set by Lightning, not declared
        if not self.enabled or quick or not isinstance(pl_module, ClassifierModule):
            return
        log_dir = trainer.log_dir  # a broadcast under DDP: every process must ask, or rank 0 waits
        if not trainer.is_global_zero or log_dir is None:
            return
        # Absolute: drawn in the background, the pictures must not follow the caller to another folder.
        folder = Path(log_dir).absolute()
        for logger in trainer.loggers:
            logger.save()  # loggers buffer rows (CSV) and events (TensorBoard); the curves read their files
        class_names = pl_module.class_names
        confusion = pl_module.val_metrics.confusion  # the last validation's, all processes'
        confusion = confusion.cpu() if confusion is not None else None
        mistakes = self._mistakes.result() if self._mistakes is not None and class_names else None
        if mistakes is not None and confusion is not None:  # every process's mistakes are counted there
            mistakes = replace(mistakes, total=int(confusion.sum() - confusion.trace()))
        history = run_history(folder)  # the CSV logger's metrics.csv, or TensorBoard's event files
        denormalize = denormalizer(datamodule_of(trainer))
        arguments = (folder, class_names, history, confusion, mistakes, denormalize)
        if self.background:
            # Said now, after the last epoch line: printed by the thread once drawn, the line would
            # land wherever the caller is by then (in a notebook, the output of a later cell).
            pl_module.print(f"drawing {', '.join(pictures_of(history, confusion, mistakes))} to {log_dir}")
            self._drawing = threading.Thread(target=self._draw, args=arguments, name="lit-classifier-plots")
            self._drawing.start()
        else:
            self._draw(*arguments)
            pl_module.print(f"wrote {', '.join(path.name for path in self.wait())} to {log_dir}")

    def _draw(
        self,
        folder: Path,
        class_names: Sequence[str],
        history: Sequence[dict[str, float]] | None,
        confusion: Tensor | None,
        mistakes: Mistakes | None,
        denormalize: Callable[[Tensor], Tensor] | None,
    ) -> None:
        try:
            with _DRAWING:
                self.paths = write_plots(
                    folder, class_names, history, confusion, mistakes, denormalize, self.count
                )
        except BaseException as error:  # handed to whoever waits: a thread's own error would be lost
            self._failure = error

    def wait(self) -> list[Path]:
        """The pictures' paths, once drawn (at once when not drawn in the background)."""
        if self._drawing is not None:
            self._drawing.join()
            self._drawing = None
        if self._failure is not None:
            failure, self._failure = self._failure, None
            raise failure
        return self.paths


def pictures_of(
    history: Sequence[object] | None, confusion: Tensor | None, mistakes: Mistakes | None
) -> list[str]:
    """The files ``write_plots`` draws from these: one picture for each that is there."""
    there = {
        CURVES_PNG: bool(history),
        CONFUSION_PNG: confusion is not None,
        MISCLASSIFIED_PNG: mistakes is not None,
    }
    return [name for name, drawn in there.items() if drawn]
