"""Epoch metrics that accumulate on the device.

Small classifiers are launch-bound: a ``.item()`` or a per-step ``self.log`` costs as much as the
step itself. So every step only *updates* device tensors, and the values are computed (and, under
DDP, reduced across processes by torchmetrics) once per epoch.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torchmetrics import Metric
from torchmetrics.classification import MulticlassAccuracy


class MeanLoss(Metric):
    """Sample-weighted mean of batch losses: exact even when the last batch is smaller.

    torchmetrics' ``MeanMetric`` checks for NaN on every update (a host sync) and ignores the
    weight when that check is disabled, hence this two-line metric.
    """

    full_state_update = False
    total: Tensor
    count: Tensor

    def __init__(self) -> None:
        super().__init__()
        self.add_state("total", torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, batch_mean: Tensor, batch_size: int) -> None:
        self.total += batch_mean.detach().double() * batch_size
        self.count += batch_size

    def compute(self) -> Tensor:
        return (self.total / self.count).float()


class StageMetrics(nn.Module):
    """Loss and top-1 accuracy of one stage (train, val or test)."""

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.loss = MeanLoss()
        # validate_args=False: the argument checks look at the values, which is a host sync.
        self.acc = MulticlassAccuracy(num_classes=num_classes, average="micro", validate_args=False)

    def update(self, loss: Tensor, logits: Tensor, target: Tensor) -> None:
        self.loss.update(loss, target.shape[0])
        self.acc.update(logits.detach(), target)

    @property
    def updated(self) -> bool:
        """Whether any batch was seen since the last reset."""
        return bool(self.loss.update_called)

    def compute(self) -> dict[str, Tensor]:
        """Epoch values, reduced over all processes, then reset for the next epoch."""
        values = {"loss": self.loss.compute(), "acc": self.acc.compute()}
        self.loss.reset()
        self.acc.reset()
        return values

    def running_loss(self) -> float:
        """This process's mean loss so far in the epoch, for the progress bar (one host sync)."""
        count = self.loss.count.item()
        return self.loss.total.item() / count if count else float("nan")
