"""The per-step loss and accuracy metric: torchmetrics' values with less work per step."""

from __future__ import annotations

import pytest
import torch
from torchmetrics.classification import MulticlassAccuracy

from lit_classifier.metrics import LossAccuracy


def test_accuracy_equals_torchmetrics_micro_accuracy_over_uneven_batches() -> None:
    generator = torch.Generator().manual_seed(0)
    ours, reference = LossAccuracy(), MulticlassAccuracy(num_classes=7, average="micro")
    for size in (32, 32, 5):  # a smaller last batch
        logits = torch.randn(size, 7, generator=generator)
        target = torch.randint(0, 7, (size,), generator=generator)
        ours.update(torch.tensor(1.0), logits, target)
        reference.update(logits, target)

    accuracy = ours.compute()["acc"]
    assert torch.allclose(accuracy, reference.compute())
    assert 0 < accuracy < 1


def test_epoch_loss_is_the_sample_weighted_mean_over_uneven_batches() -> None:
    metric = LossAccuracy()
    logits = torch.zeros(4, 3)

    metric.update(torch.tensor(1.0), logits[:3], torch.zeros(3, dtype=torch.long))
    metric.update(torch.tensor(4.0), logits[:1], torch.zeros(1, dtype=torch.long))

    assert metric.compute()["loss"].item() == pytest.approx((3 * 1.0 + 1 * 4.0) / 4)


def test_reset_starts_a_new_epoch() -> None:
    metric = LossAccuracy()
    metric.update(torch.tensor(2.0), torch.eye(2), torch.tensor([0, 0]))
    assert metric.compute()["acc"] == 0.5

    metric.reset()
    metric.update(torch.tensor(3.0), torch.eye(2), torch.tensor([0, 1]))

    assert metric.compute() == {"loss": 3.0, "acc": 1.0}
