"""Subclasses of ``ClassifierModule`` shown in the README's "Extend by subclassing", and tested.

Each is selectable from the command line by its class path::

    lit-classifier fit --model=lit_classifier.examples.WeightedLossClassifier --model.class_weights=[...]
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torchmetrics.classification import MulticlassF1Score

from lit_classifier.module import Batch, ClassifierModule


class WeightedLossClassifier(ClassifierModule):
    """Cross-entropy with a weight per class: rare classes count more."""

    def __init__(self, *args: Any, class_weights: list[float] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        weight = None if class_weights is None else torch.tensor(class_weights)
        smoothing = self.hparams.get("label_smoothing", 0.0)
        self.criterion = nn.CrossEntropyLoss(weight=weight, label_smoothing=smoothing)


class AdamWNoDecayOnNormsClassifier(ClassifierModule):
    """AdamW that decays weight matrices only, not biases or norm scales, with a cosine schedule."""

    def __init__(self, *args: Any, lr: float = 0.003, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lr = lr

    def configure_optimizers(self) -> Any:
        decay = [p for p in self.parameters() if p.ndim >= 2]
        no_decay = [p for p in self.parameters() if p.ndim < 2]
        optimizer = torch.optim.AdamW(
            [{"params": decay, "weight_decay": 0.05}, {"params": no_decay, "weight_decay": 0.0}],
            lr=self.lr,
        )
        steps = int(self.trainer.estimated_stepping_batches)
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


class F1Classifier(ClassifierModule):
    """Also logs the validation macro-F1: updated on the device each step, computed once per epoch."""

    def setup(self, stage: str) -> None:
        super().setup(stage)  # learns the class count from the data
        assert self.num_classes is not None
        self.val_f1 = MulticlassF1Score(self.num_classes, average="macro", validate_args=False)

    def validation_step(self, batch: Batch, batch_idx: int) -> Tensor:
        images, targets = batch[0], batch[1]
        logits = self(images)
        self.val_metrics.update(self.criterion(logits, targets), logits, targets)  # loss, accuracy
        self.val_f1.update(logits, targets)
        return logits  # the run's pictures keep the surest mistakes from them

    def on_validation_epoch_end(self) -> None:
        super().on_validation_epoch_end()
        self.log("val_f1", self.val_f1.compute())
        self.val_f1.reset()
