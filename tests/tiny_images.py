"""Tiny generated image sets for the model tests: random tensors, and PNG files in class folders.

Importable by class path from the command line (``--data=tiny_images.TinyImages``), since the
tests folder is on ``sys.path``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torchvision
from PIL import Image
from torch.utils.data import Dataset, TensorDataset

from lit_classifier.data.base import ClassificationDataModule


class TinyImages(ClassificationDataModule):
    """``count`` random images per split, ``channels`` x ``size`` x ``size``, in ``classes`` classes.

    The label is written into the image (class ``c`` brightens channel 0 by ``c``), so a network
    can learn it in a few steps. ``kwargs``: the base's options (no workers by default).
    """

    def __init__(
        self,
        classes: int = 4,
        size: int = 32,
        channels: int = 3,
        count: int = 32,
        batch_size: int = 8,
        num_workers: int | None = 0,
        **kwargs: Any,
    ) -> None:
        super().__init__(batch_size=batch_size, num_workers=num_workers, **kwargs)
        self.classes, self.size, self.channels, self.count = classes, size, channels, count

    @property
    def class_names(self) -> list[str]:
        return [f"class_{c}" for c in range(self.classes)]

    @property
    def dims(self) -> tuple[int, int, int]:
        return (self.channels, self.size, self.size)

    def setup(self, stage: str | None = None) -> None:
        generator = torch.Generator().manual_seed(0)
        self.train_set, self.val_set, self.test_set = (self._split(generator) for _ in range(3))

    def _split(self, generator: torch.Generator) -> TensorDataset:
        labels = torch.arange(self.count) % self.classes
        images = torch.randn(self.count, *self.dims, generator=generator)
        images[:, 0] += labels[:, None, None].float()
        return TensorDataset(images, labels)


def write_image_folder(root: Path, classes: tuple[str, ...] = ("cat", "dog"), per_class: int = 3) -> Path:
    """PNG files in ``root/<class>/<n>.png``: torchvision's ImageFolder layout, 16x16 RGB."""
    rng = np.random.default_rng(0)
    for index, name in enumerate(classes):
        (root / name).mkdir(parents=True, exist_ok=True)
        for n in range(per_class):
            pixels = rng.integers(0, 64, (16, 16, 3), dtype=np.uint8) + 96 * index
            Image.fromarray(pixels.astype(np.uint8)).save(root / name / f"{n}.png")
    return root


class TinyFolder(ClassificationDataModule):
    """Every split is the ImageFolder at ``root``: predictions can name their files."""

    def __init__(self, root: str, batch_size: int = 4, num_workers: int | None = 0, **kwargs: Any) -> None:
        super().__init__(batch_size=batch_size, num_workers=num_workers, **kwargs)
        self.folder = torchvision.datasets.ImageFolder(root, transform=torchvision.transforms.ToTensor())

    @property
    def class_names(self) -> list[str]:
        return list(self.folder.classes)

    @property
    def dims(self) -> tuple[int, int, int]:
        return (3, 16, 16)

    def setup(self, stage: str | None = None) -> None:
        self.train_set = self.val_set = self.test_set = self.folder

    @property
    def predict_set(self) -> Dataset | None:
        return self.folder
