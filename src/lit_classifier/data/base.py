"""What every data module shares: splits, loaders, and what the model must know about the data."""

from __future__ import annotations

import os
from abc import ABC, abstractmethod

import lightning as L
from torch.utils.data import DataLoader, Dataset

from lit_classifier.data.sampling import distributed_sampler, process_grid


class ClassificationDataModule(L.LightningDataModule, ABC):
    """Base of the data modules: the command line links ``num_classes``, ``class_names`` and
    ``dims`` from here into the model, so nobody types the class count twice.

    Subclasses fill ``train_set``, ``val_set`` and ``test_set`` in ``setup`` (and may override
    ``predict_set``, which defaults to the test split).

    Args:
        batch_size: images per training (and evaluation) step of each process: with several
            processes (DDP) one optimizer step sees ``batch_size`` x the number of processes.
        num_workers: DataLoader worker processes; ``None`` picks the subclass's default (in-memory
            sets load fastest in the main process, files from disk want workers).
        seed: seed of the train/val split and of the training shuffle order.
    """

    def __init__(self, batch_size: int = 64, num_workers: int | None = None, seed: int = 0) -> None:
        super().__init__()
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        if num_workers is not None and num_workers < 0:
            raise ValueError(f"num_workers must be non-negative, got {num_workers}")
        self.batch_size = batch_size
        self.num_workers = self.default_num_workers() if num_workers is None else num_workers
        self.seed = seed
        self.train_set: Dataset | None = None
        self.val_set: Dataset | None = None
        self.test_set: Dataset | None = None

    @property
    @abstractmethod
    def class_names(self) -> list[str]:
        """One name per class, in label order."""

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    @abstractmethod
    def dims(self) -> tuple[int, int, int]:
        """(channels, height, width) of one image as the model receives it."""

    def default_num_workers(self) -> int:
        """Workers for data read from disk: leave one core for the training process."""
        return max(1, min(8, (os.cpu_count() or 1) - 1))

    @property
    def predict_set(self) -> Dataset | None:
        return self.test_set

    def train_dataloader(self) -> DataLoader:
        return self._loader(self._require(self.train_set, "train"), split="train")

    def val_dataloader(self) -> DataLoader:
        return self._loader(self._require(self.val_set, "val"), split="val")

    def test_dataloader(self) -> DataLoader:
        return self._loader(self._require(self.test_set, "test"), split="test")

    def predict_dataloader(self) -> DataLoader:
        return self._loader(self._require(self.predict_set, "predict"), split="predict")

    def _require(self, dataset: Dataset | None, split: str) -> Dataset:
        if dataset is None:
            raise RuntimeError(f"{type(self).__name__} has no {split} split: call setup() first")
        return dataset

    def _loader(self, dataset: Dataset, split: str) -> DataLoader:
        on_cuda = self.trainer is not None and self.trainer.strategy.root_device.type == "cuda"
        train = split == "train"
        # Several processes: each gets its own shard, and evaluation counts every sample once.
        sampler = distributed_sampler(
            dataset,
            *process_grid(self.trainer),
            train=train,
            seed=self.seed,
            split=split,
            batch_size=self.batch_size,
        )
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            sampler=sampler,  # training: shuffled, by (seed, epoch); see data/sampling.py
            # Full batches only while training: a last batch of 3 images gives a noisy step (and
            # breaks batch norm at size 1); evaluation must see every sample.
            drop_last=train,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            pin_memory=on_cuda,
        )
