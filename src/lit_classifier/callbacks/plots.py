"""Writes the pictures of a run (``lit_classifier.plots``) into its folder when training ends."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback

from lit_classifier.plots import Predictions, collect_predictions, denormalizer, read_history, write_plots


class RunPlots(Callback):
    """``learning_curves.png``, ``confusion_matrix.png`` and ``misclassified.png`` in the run folder.

    At the end of training, on the first process only: the curves come from the CSV logger's
    ``metrics.csv``, the confusion matrix from the module's last validation (``val_metrics``, summed
    over all processes), and for the misclassified images the network predicts the validation set
    once more (as many batches as validation used) while it is still on its device.
    ``fast_dev_run`` writes no files, like Lightning's loggers.

    Args:
        enabled: write the pictures (one extra pass over the validation set at the end).
        count: how many misclassified images to show.
    """

    def __init__(self, enabled: bool = True, count: int = 16) -> None:
        self.enabled = enabled
        self.count = count
        self.paths: list[Path] = []

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        dry_run = getattr(trainer, "fast_dev_run", False)
        if not self.enabled or dry_run:
            return
        log_dir = trainer.log_dir  # a broadcast under DDP: every process must ask, or rank 0 waits
        if not trainer.is_global_zero or log_dir is None:
            return
        folder = Path(log_dir)
        for logger in trainer.loggers:
            logger.save()  # the CSV logger buffers rows; the curves read them from its file
        metrics_csv = folder / "metrics.csv"
        history = read_history(metrics_csv) if metrics_csv.is_file() else None
        class_names = getattr(pl_module, "class_names", None) or []
        predictions = self._predict_validation(trainer, pl_module) if class_names else None
        denormalize = denormalizer(getattr(trainer, "datamodule", None))
        val_metrics = getattr(pl_module, "val_metrics", None)
        confusion = getattr(val_metrics, "confusion", None)  # the last validation's, all processes'
        self.paths = write_plots(
            folder, class_names, history, confusion, predictions, denormalize, self.count
        )
        pl_module.print(f"wrote {', '.join(path.name for path in self.paths)} to {folder}")

    def _predict_validation(self, trainer: L.Trainer, pl_module: L.LightningModule) -> Predictions | None:
        loaders = trainer.val_dataloaders
        if isinstance(loaders, list | tuple):
            loaders = loaders[0] if loaders else None
        if loaders is None or not trainer.num_val_batches or not trainer.num_val_batches[0]:
            return None
        # Through the module's transfer hooks, as in validation: a data module that moves or
        # normalises batches on the device (`on_after_batch_transfer`) gets the same inputs here.
        batches = (pl_module._apply_batch_transfer_handler(batch, pl_module.device) for batch in loaders)
        with trainer.precision_plugin.forward_context(), torch.no_grad():
            return collect_predictions(
                pl_module, batches, pl_module.device, trainer.num_val_batches[0], keep_images=self.count
            )
