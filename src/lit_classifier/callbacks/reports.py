"""Per-class results of each validation and test, as CSV files in the run folder.

A top-1 accuracy hides which classes fail; the confusion matrix says which classes are taken for
which, and per-class accuracy (the matrix's diagonal over its row sums) ranks them. The counts are
kept on the device by ``ClassifierModule``'s metrics and summed over processes at the epoch end.
"""

from __future__ import annotations

from pathlib import Path

import lightning as L
from lightning.pytorch.callbacks import Callback
from torch import Tensor

from lit_classifier.metrics import StageMetrics
from lit_classifier.module import ClassifierModule
from lit_classifier.outputs import write_csv


class ClassReports(Callback):
    """Writes each validation's and test's confusion matrix and per-class recall and precision.

    ``{val,test}_confusion_matrix.csv`` and ``{val,test}_per_class_accuracy.csv`` in the run folder,
    rewritten after every validation (not the sanity check) and test, by the first process; the
    ``validate`` and ``test`` commands say where in one line (beside their checkpoint's run, in its
    ``validate/`` or ``test/`` folder: ``checkpoints.runs.place_in_run``). Runs without a logger (no
    run folder), a ``fast_dev_run`` among them, write nothing.
    """

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.sanity_checking and isinstance(pl_module, ClassifierModule):
            self._write(trainer, pl_module.val_metrics, "val", pl_module.class_names)

    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if isinstance(pl_module, ClassifierModule):
            self._write(trainer, pl_module.test_metrics, "test", pl_module.class_names)

    def _write(self, trainer: L.Trainer, metrics: StageMetrics, stage: str, class_names: list[str]) -> None:
        # A fast_dev_run's logger is a stand-in, with no run folder (``log_dir`` is None): nothing to write.
        quick = trainer.fast_dev_run  # type: ignore[attr-defined]  # set by Lightning, not declared
        if trainer.logger is None or metrics.confusion is None or quick:
            return
        log_dir = trainer.log_dir  # asked on every process: a broadcast under DDP
        if trainer.is_global_zero and log_dir is not None:
            written = write_class_report(Path(log_dir), stage, metrics.confusion, class_names)
            if trainer.state.fn != "fit":  # an evaluation's results: say where they are (a fit's pictures do)
                print(f"wrote {', '.join(path.name for path in written)} to {log_dir}")


def write_class_report(folder: Path, stage: str, confusion: Tensor, class_names: list[str]) -> list[Path]:
    """Write ``{stage}_confusion_matrix.csv`` and ``{stage}_per_class_accuracy.csv`` into ``folder``.

    ``confusion[i, j]`` counts the images of class ``i`` predicted as class ``j``. Per class: the
    images it got right and its images, its recall (its accuracy: right / its images) and precision
    (right / the images predicted as it). Both are written whole, with names safe to open in a
    spreadsheet (``outputs.write_csv``).
    """
    counts = confusion.cpu().tolist()
    predicted = confusion.sum(dim=0).tolist()  # the images predicted as each class
    matrix = write_csv(
        folder / f"{stage}_confusion_matrix.csv",
        ["true \\ predicted", *class_names],
        ([name, *row] for name, row in zip(class_names, counts, strict=True)),
    )
    accuracy = write_csv(
        folder / f"{stage}_per_class_accuracy.csv",
        ["class", "correct", "total", "recall", "precision"],
        (
            [name, row[index], sum(row), _share(row[index], sum(row)), _share(row[index], predicted[index])]
            for index, (name, row) in enumerate(zip(class_names, counts, strict=True))
        ),
    )
    return [matrix, accuracy]


def _share(part: int, whole: int) -> str:
    return f"{part / whole:.6f}" if whole else ""
