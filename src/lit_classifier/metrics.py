"""Epoch metrics that accumulate on the device.

Small classifiers are launch-bound: a ``.item()`` or a per-step ``self.log`` costs as much as the
step itself. So every step only *updates* device tensors, and the values are computed (and, under
DDP, reduced across processes by torchmetrics) once per epoch.

Two of the three metrics are written here because torchmetrics' own cost more per step
(``python benchmarks/metrics.py`` measures both and finds every host sync on the CPU, by running an
update on fake tensors): top-5 accuracy is torchmetrics' ``MulticlassAccuracy``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torchmetrics import Metric
from torchmetrics.classification import MulticlassAccuracy


class LossAccuracy(Metric):
    """Sample-weighted mean loss and top-1 accuracy of a stage's batches, in one update.

    The mean is exact when the last batch is smaller; the accuracy is correct / seen, the value of
    torchmetrics' micro ``MulticlassAccuracy`` for one label per image. One metric, in-place adds
    and one shared sample count keep the per-step work to a few tensor ops. torchmetrics'
    ``MeanMetric`` checks for NaN on every update (a host sync), except with
    ``nan_strategy="disable"``, which then ignores the sample weights (torchmetrics #3434); none of
    its options leaves a non-finite batch out of the count and the accuracy too. ``MeanMetric`` and
    ``MulticlassAccuracy`` together took 2 to 4 times as long per update (``benchmarks/metrics.py``).
    """

    full_state_update = False
    loss_sum: Tensor
    correct: Tensor
    count: Tensor

    def __init__(self, skip_nonfinite: bool = False) -> None:
        super().__init__()
        self.skip_nonfinite = skip_nonfinite
        self.add_state("loss_sum", torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("correct", torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")
        self.add_state("count", torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, batch_mean_loss: Tensor, logits: Tensor, target: Tensor) -> None:
        size = target.shape[0]
        loss = batch_mean_loss.detach()
        correct = (logits.detach().argmax(dim=1) == target).sum()
        if not self.skip_nonfinite:
            self.loss_sum.add_(loss, alpha=size)
            self.correct.add_(correct)
            self.count.add_(size)
            return
        # A batch whose loss is NaN or infinite (skipped by the non-finite policy) counts for nothing,
        # decided on the device: no host sync.
        finite = torch.isfinite(loss)
        self.loss_sum.add_(torch.where(finite, loss, 0.0), alpha=size)
        self.correct.add_(correct * finite)
        self.count.add_(finite * size)

    def compute(self) -> dict[str, Tensor]:
        return {"loss": (self.loss_sum / self.count).float(), "acc": self.correct / self.count}


class ConfusionMatrix(Metric):
    """Counts of (true class, predicted class) pairs.

    torchmetrics' ``MulticlassConfusionMatrix`` counts with ``torch.bincount``, which reads the
    largest label back to the host on CUDA (a sync per step), and took 1.3 to 1.8 times as long per
    update (``benchmarks/metrics.py``); ``index_add_`` into a fixed-size matrix does not sync.
    """

    full_state_update = False
    counts: Tensor

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.num_classes = num_classes
        zeros = torch.zeros(num_classes, num_classes, dtype=torch.long)
        self.add_state("counts", zeros, dist_reduce_fx="sum")

    def update(self, logits: Tensor, target: Tensor) -> None:
        cells = target * self.num_classes + logits.argmax(dim=1)
        self.counts.view(-1).index_add_(0, cells, torch.ones_like(cells))

    def compute(self) -> Tensor:
        return self.counts.clone()


class StageMetrics(nn.Module):
    """Loss and top-1 accuracy of one stage (train, val or test).

    With ``skip_nonfinite`` (training), a batch with a NaN or infinite loss is left out.
    With ``detailed`` (evaluation stages): also top-5 accuracy when there are more than 5 classes,
    the confusion matrix, kept in ``confusion`` after each ``compute``, and the balanced accuracy
    read from it (the mean of the classes' recalls: on imbalanced data, what a rare class is
    worth). Training steps skip them: they are the launch-bound part of a run.
    """

    def __init__(self, num_classes: int, detailed: bool = False, skip_nonfinite: bool = False) -> None:
        super().__init__()
        self.loss_acc = LossAccuracy(skip_nonfinite)
        self.top5: MulticlassAccuracy | None = None
        self.confusion_counts: ConfusionMatrix | None = None
        if "top5_acc" in self.names(num_classes, detailed):
            # validate_args=False: no argument checks on every step.
            self.top5 = MulticlassAccuracy(
                num_classes=num_classes, top_k=5, average="micro", validate_args=False
            )
        if detailed:
            self.confusion_counts = ConfusionMatrix(num_classes)
        self.confusion: Tensor | None = None  # the last computed epoch's, rows: true, columns: predicted

    def update(self, loss: Tensor, logits: Tensor, target: Tensor) -> None:
        self.loss_acc.update(loss, logits, target)
        if self.top5 is not None:
            self.top5.update(logits.detach(), target)
        if self.confusion_counts is not None:
            self.confusion_counts.update(logits.detach(), target)

    @staticmethod
    def names(num_classes: int, detailed: bool = False) -> list[str]:
        """The keys of ``compute()`` for ``num_classes`` classes, known before any batch: what a
        stage logs, and so what a callback can monitor."""
        top5 = ["top5_acc"] if detailed and num_classes > 5 else []
        return ["loss", "acc", *top5, *(["balanced_acc"] if detailed else [])]

    @property
    def updated(self) -> bool:
        """Whether any batch was seen since the last reset."""
        return bool(self.loss_acc.update_called)

    def compute(self) -> dict[str, Tensor]:
        """Epoch values, reduced over all processes, then reset for the next epoch."""
        values = self.loss_acc.compute()
        self.loss_acc.reset()
        if self.top5 is not None:
            values["top5_acc"] = self.top5.compute()
            self.top5.reset()
        if self.confusion_counts is not None:
            self.confusion = self.confusion_counts.compute()
            self.confusion_counts.reset()
            values["balanced_acc"] = balanced_accuracy(self.confusion)
        return values

    def running_loss(self) -> float:
        """This process's mean loss so far in the epoch, for the progress bar (one host sync)."""
        count = self.loss_acc.count.item()
        return self.loss_acc.loss_sum.item() / count if count else float("nan")


def balanced_accuracy(confusion: Tensor) -> Tensor:
    """The mean of the recalls (correct / seen) of the classes ``confusion`` saw (rows: true class),
    scikit-learn's ``balanced_accuracy_score``: a class absent from the split does not count. On the
    device, without a host sync (no boolean indexing)."""
    seen = confusion.sum(dim=1)
    present = (seen > 0).float()
    recalls = confusion.diagonal().float() / seen.clamp(min=1)
    return (recalls * present).sum() / present.sum()
