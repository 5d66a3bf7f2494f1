"""The per-step accuracy metric gives torchmetrics' micro accuracy with less work per step."""

from __future__ import annotations

import torch
from torchmetrics.classification import MulticlassAccuracy

from lit_classifier.metrics import Accuracy


def test_accuracy_equals_torchmetrics_micro_accuracy_over_uneven_batches() -> None:
    generator = torch.Generator().manual_seed(0)
    ours, reference = Accuracy(), MulticlassAccuracy(num_classes=7, average="micro")
    for size in (32, 32, 5):  # a smaller last batch
        logits = torch.randn(size, 7, generator=generator)
        target = torch.randint(0, 7, (size,), generator=generator)
        ours.update(logits, target)
        reference.update(logits, target)

    assert torch.allclose(ours.compute(), reference.compute())
    assert 0 < ours.compute() < 1
