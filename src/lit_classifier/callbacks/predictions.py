"""Writes ``predictions.csv`` in the run folder when ``predict`` runs."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import BasePredictionWriter
from torch.utils.data import DataLoader, Subset

from lit_classifier.data.interfaces import ListsFiles
from lit_classifier.module import ClassifierModule
from lit_classifier.outputs import write_csv


class PredictionWriter(BasePredictionWriter):
    """Writes ``predictions.csv``: the predicted class, its probability and the top k, per image.

    One CSV row per input: its index in the predict set (and its file, for data sets that read
    files, such as ``ImageFolder``), the predicted class, its index among the module's
    ``class_names`` and its probability, and the ``top_k`` most likely classes with their
    probabilities. The file is written whole, and a name that a spreadsheet would run as a formula
    is written with a leading ``'`` (``outputs``); ``class_index`` keys the true name. A
    ``fast_dev_run`` (no run folder) writes none.

    Args:
        top_k: how many ranked classes to list per row.
        filename: name of the file in the run folder (``trainer.log_dir``).
    """

    def __init__(self, top_k: int = 3, filename: str = "predictions.csv") -> None:
        super().__init__(write_interval="epoch")
        self.top_k = top_k
        self.filename = filename
        self.path: Path | None = None

    def write_on_epoch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        predictions: Sequence[Any],
        batch_indices: Sequence[Any],
    ) -> None:
        if trainer.fast_dev_run:  # type: ignore[attr-defined]  # no run folder (a stand-in logger): no file
            return
        # Every process takes part in the gather and in `log_dir` (a broadcast), or rank 0 waits forever.
        rows = gather_in_input_order(trainer, predictions, batch_indices)
        folder = Path(trainer.log_dir or ".")
        if not trainer.is_global_zero or rows is None:
            return
        indices, probabilities = rows
        paths = sample_paths(_predict_dataset(trainer))
        known = pl_module.class_names if isinstance(pl_module, ClassifierModule) else []
        names = known or [str(index) for index in range(probabilities.shape[1])]
        k = min(self.top_k, probabilities.shape[1])
        top_p, top_i = probabilities.topk(k, dim=1)
        top = [f"top{i + 1}" for i in range(k)]
        header = ["index", *(["path"] if paths else []), "prediction", "class_index", "probability", *top]
        lines = (
            [
                index,
                *([paths[index]] if paths else []),
                names[i[0]],
                i[0],
                f"{p[0]:.6f}",
                *(f"{names[c]}:{q:.4f}" for c, q in zip(i, p, strict=True)),
            ]
            for index, p, i in zip(indices.tolist(), top_p.tolist(), top_i.tolist(), strict=True)
        )
        self.path = write_csv(folder / self.filename, header, lines)
        pl_module.print(f"wrote {len(probabilities)} predictions to {self.path}")


def gather_in_input_order(
    trainer: L.Trainer, predictions: Sequence[Any], batch_indices: Sequence[Any]
) -> tuple[torch.Tensor, torch.Tensor] | None:
    """The predict set's indices and probabilities from all processes, sorted by index, on rank 0.

    Under DDP each process predicts its own shard; Lightning records the dataset index of every
    sample it predicts. Other ranks get ``None``, as does rank 0 when nothing was predicted.
    """
    flat = [int(i) for batch in (batch_indices[0] if batch_indices else []) for i in batch]
    probabilities = torch.cat([p.float().cpu() for p in predictions]) if predictions else None
    count = 0 if probabilities is None else len(probabilities)
    if len(flat) != count:  # a loader whose indices Lightning cannot track: the order is the input's
        if trainer.world_size > 1:
            raise RuntimeError(
                "predict on several processes needs a DataLoader over a sized dataset, so that each "
                "prediction's index is known; predict on one process (--trainer.devices=1), or "
                "without device-resident batches (--data.init_args.gpu_resident=false)"
            )
        flat = list(range(count))
    parts: list[Any] = [(flat, probabilities)]
    if trainer.world_size > 1 and torch.distributed.is_initialized():
        parts = [None] * trainer.world_size if trainer.is_global_zero else []
        torch.distributed.gather_object((flat, probabilities), parts if trainer.is_global_zero else None)
    found = [(torch.tensor(i, dtype=torch.long), p) for i, p in parts if p is not None]
    if not trainer.is_global_zero or not found:
        return None
    indices = torch.cat([i for i, _ in found])
    order = indices.argsort()
    return indices[order], torch.cat([p for _, p in found])[order]


def _predict_dataset(trainer: L.Trainer) -> Any:
    loaders = trainer.predict_dataloaders
    loader = loaders[0] if isinstance(loaders, list | tuple) and len(loaders) == 1 else loaders
    return loader.dataset if isinstance(loader, DataLoader) else None


def sample_paths(dataset: Any) -> list[str] | None:
    """The file of each sample, for data sets that list ``samples`` as (path, label) pairs
    (torchvision's ``ImageFolder``, ``lit_classifier.data.folder``), seen through any ``Subset``s;
    ``None`` for others.
    """
    positions: list[int] | None = None
    while isinstance(dataset, Subset):
        outer = [int(i) for i in dataset.indices]
        positions = outer if positions is None else [outer[p] for p in positions]
        dataset = dataset.dataset
    if not isinstance(dataset, ListsFiles) or not dataset.samples:
        return None
    paths = [str(path) for path, _ in dataset.samples]
    return paths if positions is None else [paths[p] for p in positions]
