"""A data source provides what it can (``lit_classifier.data.interfaces``), and the package takes
each piece it provides: here a data module of one's own, and the package's own modules and splits."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from lit_classifier import DigitsDataModule, ImageFolderDataModule, train_model
from lit_classifier.data.interfaces import (
    CountsClasses,
    ListsFiles,
    NamesClasses,
    ShapesImages,
    Standardizes,
    StoresEncoded,
    class_count,
    image_shape,
    named_classes,
)
from tiny_images import write_image_folder


class Shapes(L.LightningDataModule):
    """A data module of one's own that says its classes, their names and its image shape."""

    num_classes = 3
    class_names = ["circle", "square", "star"]  # noqa: RUF012
    dims = (1, 8, 8)

    def train_dataloader(self) -> DataLoader:
        generator = torch.Generator().manual_seed(0)
        images = torch.randn(24, 1, 8, 8, generator=generator)
        return DataLoader(TensorDataset(images, torch.arange(24) % 3), batch_size=8)

    val_dataloader = train_dataloader


def test_the_model_takes_names_and_image_shape_from_a_data_module_of_ones_own() -> None:
    network = nn.Sequential(nn.Flatten(), nn.Linear(64, 3))

    result = train_model(network, epochs=1, datamodule=Shapes())

    assert result.module.class_names == ["circle", "square", "star"]
    assert result.module.record.input_shape == (1, 8, 8)
    assert result.module.example_input_array.shape == (1, 1, 8, 8)  # run once on zeros of that shape


def test_the_packages_data_modules_provide_every_data_module_interface() -> None:
    digits = DigitsDataModule()
    digits.setup("fit")

    for interface in (CountsClasses, NamesClasses, ShapesImages, Standardizes):
        assert isinstance(digits, interface), interface.__name__
    assert (class_count(digits), image_shape(digits)) == (10, (1, 8, 8))


def test_a_module_that_knows_its_classes_only_after_setup_is_read_as_not_knowing_them_yet(
    tmp_path: Path,
) -> None:
    folder = ImageFolderDataModule(str(write_image_folder(tmp_path / "photos")), image_size=16)

    assert (class_count(folder), named_classes(folder)) == (None, None)
    folder.setup("fit")
    assert named_classes(folder) == ["cat", "dog"]


@pytest.mark.parametrize("split", ["train_set", "val_set"])
def test_image_folder_splits_list_their_files_and_keep_their_bytes(tmp_path: Path, split: str) -> None:
    folder = ImageFolderDataModule(str(write_image_folder(tmp_path / "photos")), image_size=16)
    folder.setup("fit")
    dataset = getattr(folder, split)

    assert isinstance(dataset, ListsFiles) and isinstance(dataset, StoresEncoded)
    path, label = dataset.samples[0]
    assert dataset.encoded(0) == (path.read_bytes(), label)
