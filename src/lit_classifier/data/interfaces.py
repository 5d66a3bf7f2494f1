"""What a data source gives the package beyond Lightning's loaders, declared as protocols.

Lightning asks a data module for its loaders only. The package uses more where a data source has
it, and checks for one of these protocols before it does, so a data module of your own provides
what it can and the rest of the package adapts:

- ``CountsClasses`` (``num_classes``): the model sizes its head from it; without it, give
  ``ClassifierModule(num_classes=...)``;
- ``NamesClasses`` (``class_names``): checkpoints, predictions and pictures name the classes with it
  (``"0"``, ``"1"``, ... otherwise);
- ``ShapesImages`` (``dims``: channels, height, width): the network is run once on zeros of that
  shape before the first step, and the checkpoint records it for exports and new images;
- ``Standardizes`` (``mean``, ``std`` of the [0, 1] pixels): pictures of images undo them.

And of a split (a data set):

- ``ListsFiles`` (``samples``: (path, label) pairs, as torchvision's ``ImageFolder`` lists them):
  predictions name each row's file;
- ``StoresEncoded`` (``encoded(index)``: the image file's bytes and the label): a conversion to
  streaming chunks stores them as they are;
- ``ListsLabels`` (``labels``: one class index per sample, read without decoding an image):
  ``class_weights="balanced"`` counts the training split's.

``ClassificationDataModule`` provides the first four; its image folders, new images and Hugging
Face splits the last two. A module that learns its classes from its files (an image folder) knows
them after ``setup`` only; the readers here then see none.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import lightning as L
from torch import Tensor


@runtime_checkable
class CountsClasses(Protocol):
    @property
    def num_classes(self) -> int: ...


@runtime_checkable
class NamesClasses(Protocol):
    @property
    def class_names(self) -> list[str]: ...


@runtime_checkable
class ShapesImages(Protocol):
    @property
    def dims(self) -> tuple[int, int, int]: ...


@runtime_checkable
class Standardizes(Protocol):
    mean: tuple[float, ...]
    std: tuple[float, ...]


@runtime_checkable
class ListsFiles(Protocol):
    samples: Sequence[tuple[Path, int]]


@runtime_checkable
class StoresEncoded(Protocol):
    def encoded(self, index: int) -> tuple[bytes, int]: ...


@runtime_checkable
class ListsLabels(Protocol):
    @property
    def labels(self) -> Sequence[int] | Tensor: ...


def datamodule_of(trainer: L.Trainer) -> L.LightningDataModule | None:
    """The data module the Trainer runs with; ``None`` for plain loaders. Lightning sets
    ``trainer.datamodule`` on every Trainer but does not declare it on the class."""
    datamodule: L.LightningDataModule | None = trainer.datamodule  # type: ignore[attr-defined]
    return datamodule


def class_count(data: object) -> int | None:
    """``num_classes`` of ``data`` if it has one and knows it now, else ``None``."""
    try:
        return data.num_classes if isinstance(data, CountsClasses) else None
    except RuntimeError:  # known once the splits are read
        return None


def named_classes(data: object) -> list[str] | None:
    """``class_names`` of ``data`` if it has them and knows them now, else ``None``."""
    try:
        return list(data.class_names) if isinstance(data, NamesClasses) else None
    except RuntimeError:
        return None


def image_shape(data: object) -> tuple[int, int, int] | None:
    """``dims`` of ``data`` if it has them and knows them now, else ``None``."""
    try:
        return data.dims if isinstance(data, ShapesImages) else None
    except RuntimeError:
        return None
