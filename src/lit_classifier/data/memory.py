"""Data sets held in memory as image tensors: the ordinary loaders and the device-resident path.

Digits, MNIST, Fashion-MNIST and the CIFARs fit in memory as uint8 tensors. A subclass loads its
splits (``load_splits``); this class checks their labels, serves them through DataLoaders
(augmented per sample with torchvision transforms) or, with ``gpu_resident=True``, through
``DeviceBatches`` (the whole split on the Trainer's device, augmented there in batches).
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.utils.data import Dataset, TensorDataset
from torchvision.transforms import v2

from lit_classifier.data.base import ClassificationDataModule
from lit_classifier.data.gpu import DeviceBatches, normalize
from lit_classifier.data.labels import check_labels
from lit_classifier.data.splits import random_split_indices


@dataclass(frozen=True)
class ImageTensors:
    """One split: images (N, C, H, W), uint8 in 0..255 or floats in [0, 1]; labels (N,) int64;
    ``source`` says where they came from (a file), for error messages."""

    images: Tensor
    labels: Tensor
    source: str

    def subset(self, index: Tensor) -> ImageTensors:
        return ImageTensors(self.images[index], self.labels[index], self.source)


def carve_validation(train: ImageTensors, fraction: float, seed: int) -> tuple[ImageTensors, ImageTensors]:
    """Hold out ``fraction`` of the training split as validation, the same images for a given seed."""
    rest, held_out = random_split_indices(len(train.labels), (fraction,), seed=seed)
    return train.subset(rest), train.subset(held_out)


class AugmentedImages(Dataset):
    """Per-sample path: crop and flip one uint8 image with torchvision, then scale and standardise."""

    def __init__(self, split: ImageTensors, transform: v2.Transform) -> None:
        self.split = split
        self.transform = transform

    def __len__(self) -> int:
        return len(self.split.labels)

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        return self.transform(self.split.images[index]), self.split.labels[index]


class InMemoryDataModule(ClassificationDataModule):
    """Base of the data modules whose splits are image tensors in memory.

    Subclasses set ``mean`` and ``std`` (per-channel statistics of the [0, 1]-scaled pixels) and
    implement ``load_splits``.

    Args:
        batch_size: see ``ClassificationDataModule``.
        num_workers: see ``ClassificationDataModule``; ``None``: 0 without augmentation (the split
            is normalised once, up front), workers from the CPU count with it.
        seed: see ``ClassificationDataModule``; also seeds the device-resident order and augmentation.
        gpu_resident: hold each split on the Trainer's device and make batches there
            (``lit_classifier.data.gpu``): no workers, no per-batch copies. For sets that fit in
            device memory; works on the CPU too.
        crop_padding: training augmentation: pad by this many pixels and crop back at a random
            offset (0: off).
        flip: training augmentation: mirror left-right with probability 1/2.
    """

    mean: tuple[float, ...]
    std: tuple[float, ...]

    def __init__(
        self,
        batch_size: int = 64,
        num_workers: int | None = None,
        seed: int = 0,
        gpu_resident: bool = False,
        crop_padding: int = 0,
        flip: bool = False,
    ) -> None:
        if crop_padding < 0:
            raise ValueError(f"crop_padding must be non-negative, got {crop_padding}")
        self.crop_padding = crop_padding
        self.flip = flip
        super().__init__(batch_size=batch_size, num_workers=num_workers, seed=seed)
        self.gpu_resident = gpu_resident
        self.splits: dict[str, ImageTensors] = {}

    @property
    def augments(self) -> bool:
        return self.crop_padding > 0 or self.flip

    def default_num_workers(self) -> int:
        return super().default_num_workers() if self.augments else 0

    @abstractmethod
    def load_splits(self) -> dict[str, ImageTensors]:
        """The ``train``, ``val`` and ``test`` splits, read from wherever the set lives."""

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        splits = self.load_splits()
        for name, split in splits.items():
            check_labels(
                split.labels, self.num_classes, f"the {name} split of {type(self).__name__} ({split.source})"
            )
        self.splits = splits
        if self.gpu_resident:
            return  # the loaders below make device batches straight from `splits`
        self.train_set = self._dataset(splits["train"], train=True)
        self.val_set = self._dataset(splits["val"], train=False)
        self.test_set = self._dataset(splits["test"], train=False)

    def _dataset(self, split: ImageTensors, train: bool) -> Dataset:
        mean = torch.tensor(self.mean).view(-1, 1, 1)
        std = torch.tensor(self.std).view(-1, 1, 1)
        if not (train and self.augments):
            return TensorDataset(normalize(split.images, mean, std), split.labels)
        steps: list[v2.Transform] = []
        if self.crop_padding:
            steps.append(v2.RandomCrop(list(split.images.shape[-2:]), padding=self.crop_padding))
        if self.flip:
            steps.append(v2.RandomHorizontalFlip())
        steps += [v2.ToDtype(torch.float32, scale=True), v2.Normalize(list(self.mean), list(self.std))]
        return AugmentedImages(split, v2.Compose(steps))

    # A DeviceBatches is no DataLoader: Lightning takes any iterable of batches, hence the wider type.
    def train_dataloader(self) -> Iterable:  # type: ignore[override]
        return self.device_batches("train") if self.gpu_resident else super().train_dataloader()

    def val_dataloader(self) -> Iterable:  # type: ignore[override]
        return self.device_batches("val") if self.gpu_resident else super().val_dataloader()

    def test_dataloader(self) -> Iterable:  # type: ignore[override]
        return self.device_batches("test") if self.gpu_resident else super().test_dataloader()

    def predict_dataloader(self) -> Iterable:  # type: ignore[override]
        return self.device_batches("test") if self.gpu_resident else super().predict_dataloader()

    def device_batches(self, split: str, device: torch.device | str | None = None) -> DeviceBatches:
        """``split`` held on ``device`` (default: the Trainer's root device, else the CPU), batched
        there; each process of a multi-process run iterates over its own shard."""
        if split not in self.splits:
            raise RuntimeError(f"{type(self).__name__} has no {split} split: call setup() first")
        trainer = self.trainer
        if device is None:
            device = trainer.strategy.root_device if trainer is not None else "cpu"
        return DeviceBatches(
            self.splits[split].images,
            self.splits[split].labels,
            batch_size=self.batch_size,
            mean=self.mean,
            std=self.std,
            device=device,
            train=split == "train",
            crop_padding=self.crop_padding,
            flip=self.flip,
            seed=self.seed,
            rank=trainer.global_rank if trainer is not None else 0,
            world_size=trainer.world_size if trainer is not None else 1,
        )
