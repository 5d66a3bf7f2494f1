"""Writes ``predictions.csv`` in the run folder when ``predict`` runs."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import BasePredictionWriter


class PredictionWriter(BasePredictionWriter):
    """One CSV row per input: its index in the predict set, the predicted class and its probability,
    and the ``top_k`` most likely classes with their probabilities.

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
        if not trainer.is_global_zero or not predictions:
            return
        probabilities = torch.cat([p.float().cpu() for p in predictions])
        names = [str(name) for name in getattr(pl_module, "class_names", range(probabilities.shape[1]))]
        k = min(self.top_k, probabilities.shape[1])
        top_p, top_i = probabilities.topk(k, dim=1)
        self.path = Path(trainer.log_dir or ".") / self.filename
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("w", newline="") as file:
            writer = csv.writer(file)
            writer.writerow(["index", "prediction", "probability", *[f"top{i + 1}" for i in range(k)]])
            for index, (p, i) in enumerate(zip(top_p.tolist(), top_i.tolist(), strict=True)):
                ranked = [f"{names[c]}:{q:.4f}" for c, q in zip(i, p, strict=True)]
                writer.writerow([index, names[i[0]], f"{p[0]:.6f}", *ranked])
        pl_module.print(f"wrote {len(probabilities)} predictions to {self.path}")
