"""``train_model``: the notebook recipe with a user's own network, on every kind of data."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import lightning as L
import pytest
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, TensorDataset

from data_files import write_cifar10, write_cifar100, write_image_folder, write_mnist
from lit_classifier import (
    CIFAR10DataModule,
    CIFAR100DataModule,
    DigitsDataModule,
    FashionMNISTDataModule,
    ImageFolderDataModule,
    MNISTDataModule,
    train_model,
)


class TutorialNet(nn.Module):
    """The kind of network a user writes in a notebook (no lazy layers, its own class count)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.fc = nn.Sequential(nn.Flatten(), nn.Linear(16 * 4 * 4, 64), nn.ReLU(), nn.Linear(64, 10))

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.conv(x))


def test_train_model_trains_a_user_network_and_returns_its_history(
    capsys: pytest.CaptureFixture[str],
) -> None:
    torch.manual_seed(0)  # the network's initial weights: a notebook user's run is seeded the same way
    result = train_model(TutorialNet(), epochs=3, lr=0.05)

    assert [row["epoch"] for row in result.history] == [1, 2, 3]
    assert all(type(row["epoch"]) is int for row in result.history)  # an epoch count, as printed
    assert result.history[-1]["val_acc"] > 0.9
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]
    assert isinstance(result.model, TutorialNet)
    assert capsys.readouterr().out.count("epoch ") == 3


def test_train_model_takes_a_data_module_and_trainer_options() -> None:
    result = train_model(
        TutorialNet(), epochs=1, datamodule=DigitsDataModule(batch_size=32), limit_train_batches=2
    )

    assert result.trainer is not None
    assert result.trainer.global_step == 2
    assert len(result.history) == 1


class AnyChannels(nn.Module):
    """A user's network that takes any image shape: one lazy convolution, pooled."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.LazyConv2d(8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten()
        )
        self.head = nn.Linear(8, 2)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.body(x))


DATA_MODULES: dict[str, Callable[[Path], L.LightningDataModule]] = {
    "digits": lambda _: DigitsDataModule(),
    "mnist": lambda root: (
        MNISTDataModule(data_dir=str(root), download=False, batch_size=8) if write_mnist(root) else None
    ),
    "fashion-mnist": lambda root: (
        FashionMNISTDataModule(data_dir=str(root), download=False, batch_size=8)
        if write_mnist(root, folder="FashionMNIST")
        else None
    ),
    "cifar10": lambda root: (
        CIFAR10DataModule(data_dir=str(root), download=False, batch_size=8) if write_cifar10(root) else None
    ),
    "cifar100": lambda root: (
        CIFAR100DataModule(data_dir=str(root), download=False, batch_size=8)
        if write_cifar100(root, train=200)
        else None
    ),
    "image folder": lambda root: ImageFolderDataModule(
        str(write_image_folder(root)), image_size=16, batch_size=4
    ),
}


@pytest.mark.parametrize("data", DATA_MODULES)
def test_train_model_works_with_every_data_module(data: str, tmp_path: Path) -> None:
    datamodule = DATA_MODULES[data](tmp_path / "data")

    result = train_model(
        AnyChannels(), epochs=1, datamodule=datamodule, limit_train_batches=2, limit_val_batches=1
    )

    assert result.module.num_classes == datamodule.num_classes
    assert result.module.model.head.out_features == datamodule.num_classes  # sized from the data
    assert len(result.history) == 1 and "val_acc" in result.history[0]


def test_train_model_works_with_a_users_own_data_module_that_has_num_classes() -> None:
    class ThreeShapes(L.LightningDataModule):
        num_classes = 3

        def train_dataloader(self) -> DataLoader:
            generator = torch.Generator().manual_seed(0)
            return DataLoader(
                TensorDataset(torch.randn(24, 1, 8, 8, generator=generator), torch.arange(24) % 3), 8
            )

        val_dataloader = train_dataloader

    result = train_model(AnyChannels(), epochs=1, datamodule=ThreeShapes())

    assert result.module.num_classes == 3
    assert result.module.class_names == ["0", "1", "2"]


def test_train_model_works_with_plain_dataloaders_and_num_classes() -> None:
    images, labels = torch.randn(32, 3, 8, 8), torch.arange(32) % 4
    loader = DataLoader(TensorDataset(images, labels), batch_size=8)

    result = train_model(
        AnyChannels(),
        epochs=2,
        train_dataloaders=loader,
        val_dataloaders=loader,
        num_classes=4,
        class_names=list("abcd"),
    )

    assert result.module.class_names == ["a", "b", "c", "d"]
    assert [row["epoch"] for row in result.history] == [1, 2]
