"""``lit-classifier-plot RUN_DIR``: the pictures of a finished run, drawn again from its folder.

Curves come from ``metrics.csv`` (or TensorBoard's event files), the confusion matrix from
``val_confusion_matrix.csv`` (the last validation's); the misclassified images are predicted again
by the run's checkpoint on the validation data of the data module the checkpoint describes. Both are
read as untrusted data: the network and the data module are rebuilt only when
``lit_classifier.checkpoints.trust`` allows them.
"""

from __future__ import annotations

from pathlib import Path

from jsonargparse import auto_cli

from lit_classifier.checkpoints.runs import read_confusion, run_checkpoint, run_history
from lit_classifier.checkpoints.trust import build
from lit_classifier.errors import CheckpointError, command_errors
from lit_classifier.module import ClassifierModule
from lit_classifier.plots import denormalizer, surest_mistakes, write_plots


def plot_run(run_dir: Path, count: int = 16, trusted_modules: list[str] | None = None) -> list[Path]:
    """Write ``learning_curves.png``, ``confusion_matrix.png`` and ``misclassified.png`` into a run folder.

    Args:
        run_dir: a folder written by ``lit-classifier fit`` (``runs/lightning_logs/version_N``).
        count: how many misclassified images to show.
        trusted_modules: modules whose network and data module classes the checkpoint may name.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise CheckpointError(f"run folder {run_dir} does not exist")
    history = run_history(run_dir)
    matrix_csv = run_dir / "val_confusion_matrix.csv"
    confusion = read_confusion(matrix_csv) if matrix_csv.is_file() else None
    checkpoint = run_checkpoint(run_dir)
    trusted = trusted_modules or []
    module = ClassifierModule.load_from_checkpoint(checkpoint, trusted_modules=trusted)
    if confusion is not None and len(confusion) != len(module.class_names):
        raise CheckpointError(
            f"{matrix_csv} counts {len(confusion)} classes; the run's checkpoint {checkpoint} has "
            f"{len(module.class_names)}"
        )
    spec = module.record.data_spec(str(checkpoint), trusted)
    if spec is None:
        raise CheckpointError(f"{checkpoint} does not describe the data module it was trained on")
    datamodule = build(spec)
    datamodule.setup("validate")
    mistakes = surest_mistakes(module, datamodule.val_dataloader(), count=count)
    denormalize = denormalizer(datamodule)
    return write_plots(run_dir, module.class_names, history, confusion, mistakes, denormalize, count)


def main(args: list[str] | None = None) -> None:
    """Entry point of ``lit-classifier-plot``."""
    with command_errors():
        for path in auto_cli(plot_run, args=args):
            print(f"wrote {path}")
