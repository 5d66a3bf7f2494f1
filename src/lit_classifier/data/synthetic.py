"""Random images of a chosen shape: measure throughput without downloading a data set.

``--data lit_classifier.data.SyntheticDataModule`` stands in for CIFAR-10 (50,000 + 10,000 uint8
images of 3x32x32, 10 classes, the same augmentation options) so that a speed configuration can be
timed anywhere. The labels are random: accuracy means nothing here, images per second does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch.utils.data import Dataset

from lit_classifier.data.base import ClassificationDataModule
from lit_classifier.data.splits import ImageTensors
from lit_classifier.errors import ConfigError

# CIFAR-10's statistics, so the normalised values have the same range as the real set's.
CIFAR10_LIKE_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_LIKE_STD = (0.2470, 0.2435, 0.2616)


class SyntheticDataModule(ClassificationDataModule):
    """Seeded random uint8 images with random labels, shaped like CIFAR-10 by default.

    Args:
        num_classes: number of classes.
        channels: image channels (1 or 3).
        image_size: height and width in pixels.
        train_size: images in the training split.
        val_size: images in the validation split (also used as the test split).
        batch_size: see ``ClassificationDataModule``; 512 here, a fast accelerator's batch.
        **kwargs: the other options of ``ClassificationDataModule`` (``seed`` also seeds the
            images and labels).
    """

    def __init__(
        self,
        *,
        num_classes: int = 10,
        channels: int = 3,
        image_size: int = 32,
        train_size: int = 50_000,
        val_size: int = 10_000,
        batch_size: int = 512,
        **kwargs: Any,
    ) -> None:
        super().__init__(batch_size=batch_size, **kwargs)
        if channels not in (1, 3):
            raise ConfigError(f"channels must be 1 or 3, got {channels}")
        if num_classes < 2 or image_size < 1 or train_size < 1 or val_size < 1:
            raise ConfigError(
                "num_classes must be at least 2 and image_size, train_size, val_size positive, got "
                f"{num_classes}, {image_size}, {train_size}, {val_size}"
            )
        self._num_classes = num_classes
        self.channels = channels
        self.image_size = image_size
        self.train_size = train_size
        self.val_size = val_size
        self.mean = CIFAR10_LIKE_MEAN[:channels]
        self.std = CIFAR10_LIKE_STD[:channels]

    @property
    def class_names(self) -> list[str]:
        return [f"class_{index}" for index in range(self._num_classes)]

    @property
    def dims(self) -> tuple[int, int, int]:
        return (self.channels, self.image_size, self.image_size)

    def load_splits(self) -> Mapping[str, Dataset]:
        generator = torch.Generator().manual_seed(self.seed)
        splits = {}
        for name, size in (("train", self.train_size), ("val", self.val_size)):
            images = torch.randint(0, 256, (size, *self.dims), dtype=torch.uint8, generator=generator)
            labels = torch.randint(0, self._num_classes, (size,), generator=generator)
            splits[name] = ImageTensors(images, labels, f"random images (seed {self.seed})")
        return {**splits, "test": splits["val"]}
