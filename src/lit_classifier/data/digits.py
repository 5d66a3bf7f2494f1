"""The embedded default: scikit-learn's handwritten digits, which ship inside scikit-learn.

1,797 grayscale 8x8 images of the digits 0-9, so ``lit-classifier fit`` works offline, on a laptop
CPU, in seconds.
"""

from __future__ import annotations

import gzip
import importlib.util
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from lit_classifier.data.base import ClassificationDataModule
from lit_classifier.data.splits import ImageTensors, check_fraction, random_split_indices
from lit_classifier.errors import ConfigError

# Pixel statistics of the whole set after scaling to [0, 1] (pixels are 0..16 in the source).
DIGITS_MEAN = 0.3053
DIGITS_STD = 0.3760


class DigitsDataModule(ClassificationDataModule):
    """scikit-learn's digits, split into train/val/test with a fixed seed.

    Args:
        val_fraction: share of the images held out for validation.
        test_fraction: share of the images held out for testing.
        to_rgb: repeat the gray channel three times, for networks built for colour images
            (every torchvision classifier).
        **kwargs: the options of ``ClassificationDataModule`` (``batch_size``, ``gpu_resident``, ...).
    """

    mean = (DIGITS_MEAN,)
    std = (DIGITS_STD,)

    def __init__(
        self, *, val_fraction: float = 0.15, test_fraction: float = 0.2, to_rgb: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        check_fraction("val_fraction", val_fraction, zero_allowed=True)
        check_fraction("test_fraction", test_fraction, zero_allowed=True)
        if val_fraction + test_fraction >= 1:
            raise ConfigError(
                f"val_fraction + test_fraction must be below 1, to leave images for training, got "
                f"{val_fraction} + {test_fraction}"
            )
        self.val_fraction = val_fraction
        self.test_fraction = test_fraction
        self.to_rgb = to_rgb

    @property
    def class_names(self) -> list[str]:
        return [str(digit) for digit in range(10)]

    @property
    def dims(self) -> tuple[int, int, int]:
        return (3 if self.to_rgb else 1, 8, 8)

    @property
    def image_mode(self) -> str:
        return "L"  # gray digits, repeated to three channels with to_rgb

    def load_splits(self) -> Mapping[str, Dataset]:
        images, labels = load_digits_tensors()
        if self.to_rgb:
            images = images.expand(-1, 3, -1, -1).contiguous()
        digits = ImageTensors(images, labels, "scikit-learn's load_digits()")
        train, val, test = random_split_indices(
            len(labels), (self.val_fraction, self.test_fraction), seed=self.seed
        )
        return {"train": digits.subset(train), "val": digits.subset(val), "test": digits.subset(test)}


def load_digits_tensors() -> tuple[torch.Tensor, torch.Tensor]:
    """All 1,797 images as float tensors in [0, 1], shaped (N, 1, 8, 8), and their int64 labels."""
    table = _digits_table()
    images = torch.from_numpy(table[:, :-1]).float().div_(16.0).reshape(-1, 1, 8, 8)
    labels = torch.from_numpy(table[:, -1]).long()
    return images, labels


def _digits_table() -> np.ndarray:
    """scikit-learn's ``digits.csv.gz``, 64 pixels and the label per row, read as its ``load_digits()``
    reads it, but without importing scikit-learn: that import (and pandas, which it imports) took
    0.5 s, a fifth of a whole ``lit-classifier fit`` after its own imports. A scikit-learn that keeps
    the file elsewhere is asked for it the slow way."""
    spec = importlib.util.find_spec("sklearn")  # finds the package without running it
    folders = spec.submodule_search_locations if spec is not None else None
    path = Path(next(iter(folders)), "datasets", "data", "digits.csv.gz") if folders else None
    if path is None or not path.is_file():
        from sklearn.datasets import load_digits

        digits = load_digits()
        return np.column_stack([digits.data, digits.target])
    with gzip.open(path) as file:
        return np.loadtxt(file, delimiter=",")
