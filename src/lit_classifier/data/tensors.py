"""Splits held in memory as image tensors: digits, MNIST, Fashion-MNIST, the CIFARs, synthetic images.

A split stores its pixels as they came (uint8 in 0..255, or floats in [0, 1]); both data paths make
batches of them the same way: a gather of the batch's indices, then ``augment.BatchTransform``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor
from torch.utils.data import Dataset

from lit_classifier.data.splits import random_split_indices


class ImageTensors(Dataset):
    """One split: images (N, C, H, W), uint8 or floats in [0, 1]; labels (N,) int64; ``source`` says
    where they came from (a file), for error messages.

    The DataLoader asks ``__getitems__`` for a whole batch at once: one gather instead of a Python
    call and a stack per image.
    """

    def __init__(self, images: Tensor, labels: Tensor, source: str) -> None:
        if images.ndim != 4 or len(images) != len(labels):
            raise ValueError(
                f"expected images (N, C, H, W) and N labels, got {tuple(images.shape)} and {len(labels)}"
            )
        self.images = images
        self.labels = labels
        self.source = source

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        return self.images[index], self.labels[index]

    def __getitems__(self, indices: Sequence[int]) -> tuple[Tensor, Tensor]:
        index = torch.as_tensor(indices, dtype=torch.long)
        return self.images.index_select(0, index), self.labels.index_select(0, index)

    def subset(self, index: Tensor) -> ImageTensors:
        return ImageTensors(self.images[index], self.labels[index], self.source)


def carve_validation(train: ImageTensors, fraction: float, seed: int) -> tuple[ImageTensors, ImageTensors]:
    """Hold out ``fraction`` of the training split as validation, the same images for a given seed."""
    rest, held_out = random_split_indices(len(train.labels), (fraction,), seed=seed)
    return train.subset(rest), train.subset(held_out)
