"""The standard benchmark sets through torchvision: MNIST, Fashion-MNIST, CIFAR-10 and CIFAR-100.

Each downloads its files into ``data_dir`` the first time (``prepare_data``, run by one process)
and reads them from there afterwards; offline, with the files absent, setup stops with a message
listing the files it expected, where, and how to get them. The official test split is ``test``;
validation is carved from the training split with a fixed seed. The splits are uint8 tensors in
memory, so ``gpu_resident: true`` can hold them on the accelerator (``lit_classifier.data.gpu``).

    lit-classifier fit --config configs/cifar10.yaml
    lit-classifier fit --data lit_classifier.MNISTDataModule --data.data_dir ~/data
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import torch
from torchvision import datasets

from lit_classifier.data.memory import ImageTensors, InMemoryDataModule, carve_validation
from lit_classifier.errors import InputError


class DataFilesMissing(InputError, FileNotFoundError):
    """The files of a data set are not where they should be, and could not be downloaded."""


class _CIFAR10Files(datasets.CIFAR10):
    """torchvision's CIFAR-10 reader, checking that the extracted files exist, not their md5 sums.

    torchvision hashes all 180 MB of batches at every start; the download itself is still checked
    against the archive's md5. Checking presence only also lets tests write tiny batches in the
    real pickle format.
    """

    train_list: ClassVar[list[list[Any]]] = [[name, None] for name, _ in datasets.CIFAR10.train_list]
    test_list: ClassVar[list[list[Any]]] = [[name, None] for name, _ in datasets.CIFAR10.test_list]
    meta: ClassVar[dict[str, Any]] = {**datasets.CIFAR10.meta, "md5": None}


class _CIFAR100Files(datasets.CIFAR100):
    """CIFAR-100 as ``_CIFAR10Files`` reads CIFAR-10."""

    train_list: ClassVar[list[list[Any]]] = [[name, None] for name, _ in datasets.CIFAR100.train_list]
    test_list: ClassVar[list[list[Any]]] = [[name, None] for name, _ in datasets.CIFAR100.test_list]
    meta: ClassVar[dict[str, Any]] = {**datasets.CIFAR100.meta, "md5": None}


class StandardDataModule(InMemoryDataModule):
    """A torchvision data set read into uint8 tensors; subclasses name the reader and the files.

    Args:
        data_dir: folder holding the data set (torchvision's layout); created when downloading.
        download: download the files when they are missing (once, by one process).
        val_fraction: share of the official training split held out for validation (seeded).
        batch_size: see ``ClassificationDataModule``.
        num_workers: see ``InMemoryDataModule``.
        seed: seed of the validation split, the training order and the augmentation.
        gpu_resident: see ``InMemoryDataModule``.
        crop_padding: see ``InMemoryDataModule``.
        flip: see ``InMemoryDataModule``.
    """

    reader: ClassVar[type[datasets.VisionDataset]]
    folder: ClassVar[str]  # where the reader keeps the files, under data_dir
    files: ClassVar[tuple[str, ...]]  # what must be there for the reader to work
    url: ClassVar[str]  # where the files come from, for the offline message
    image_shape: ClassVar[tuple[int, int, int]]

    def __init__(
        self,
        data_dir: str = "data",
        download: bool = True,
        val_fraction: float = 0.1,
        batch_size: int = 128,
        num_workers: int | None = None,
        seed: int = 0,
        gpu_resident: bool = False,
        crop_padding: int = 0,
        flip: bool = False,
    ) -> None:
        super().__init__(
            batch_size=batch_size,
            num_workers=num_workers,
            seed=seed,
            gpu_resident=gpu_resident,
            crop_padding=crop_padding,
            flip=flip,
        )
        if not 0 < val_fraction < 1:
            raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
        self.data_dir = Path(data_dir).expanduser()
        self.download = download
        self.val_fraction = val_fraction
        self._class_names: list[str] = []

    @property
    def class_names(self) -> list[str]:
        if not self._class_names:
            raise RuntimeError(f"{type(self).__name__} reads its class names in setup(): call it first")
        return self._class_names

    @property
    def dims(self) -> tuple[int, int, int]:
        return self.image_shape

    def missing_files(self) -> list[Path]:
        return [
            path for path in (self.data_dir / self.folder / name for name in self.files) if not path.is_file()
        ]

    def prepare_data(self) -> None:
        """Download the files if they are missing and ``download`` is on (one process per machine)."""
        if not self.missing_files() or not self.download:
            return
        try:
            for train in (True, False):
                self.reader(str(self.data_dir), train=train, download=True)  # type: ignore[call-arg]
        except (OSError, RuntimeError) as error:  # URLError is an OSError; torchvision wraps some
            raise self._missing_error(f"the download failed ({_innermost_reason(error)})") from None

    def load_splits(self) -> dict[str, ImageTensors]:
        if self.missing_files():
            reason = "the download failed or did not run" if self.download else "download is off"
            raise self._missing_error(reason)
        train = self._read(train=True)
        test = self._read(train=False)
        train, val = carve_validation(train, self.val_fraction, self.seed)
        return {"train": train, "val": val, "test": test}

    def _read(self, train: bool) -> ImageTensors:
        dataset: Any = self.reader(str(self.data_dir), train=train, download=False)  # type: ignore[call-arg]
        self._class_names = [str(name) for name in dataset.classes]
        images = torch.as_tensor(dataset.data)
        # MNIST keeps (N, H, W); the CIFARs keep (N, H, W, C) as numpy: both become (N, C, H, W).
        images = images.unsqueeze(1) if images.ndim == 3 else images.permute(0, 3, 1, 2)
        labels = torch.as_tensor(dataset.targets, dtype=torch.long)
        source = f"the {'training' if train else 'test'} files in {self.data_dir / self.folder}"
        return ImageTensors(images.contiguous(), labels, source)

    def _missing_error(self, reason: str) -> DataFilesMissing:
        where = self.data_dir / self.folder
        listed = "\n".join(f"  {where / name}" for name in self.files)
        return DataFilesMissing(
            f"{type(self).__name__}: {reason}, and these files are missing:\n{listed}\n"
            f"Get them by running once with network access and `--data.download true` "
            f"(data_dir={self.data_dir}), or download {self.url} and unpack it so that the files "
            f"above exist; then point --data.data_dir at the folder."
        )


def _innermost_reason(error: BaseException) -> str:
    """The last line of the message: torchvision lists each mirror it tried, the cause comes last."""
    return (str(error).strip().splitlines() or [type(error).__name__])[-1]


_MNIST_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


class MNISTDataModule(StandardDataModule):
    """MNIST: 60,000 + 10,000 grayscale 28x28 handwritten digits (LeCun et al.).

    No augmentation by default; ``crop_padding: 2`` is a light one that suits digits (never flip).
    Arguments: see ``StandardDataModule``.
    """

    reader = datasets.MNIST
    folder = "MNIST/raw"
    files = _MNIST_FILES
    url = "https://ossci-datasets.s3.amazonaws.com/mnist/ (the four *-ubyte.gz files, gunzipped)"
    image_shape = (1, 28, 28)
    mean = (0.1307,)
    std = (0.3081,)


class FashionMNISTDataModule(StandardDataModule):
    """Fashion-MNIST: 60,000 + 10,000 grayscale 28x28 images of 10 kinds of clothing (Zalando).

    Arguments: see ``StandardDataModule``.
    """

    reader = datasets.FashionMNIST
    folder = "FashionMNIST/raw"
    files = _MNIST_FILES
    url = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/ (the four *-ubyte.gz files, gunzipped)"
    image_shape = (1, 28, 28)
    mean = (0.2860,)
    std = (0.3530,)


class CIFAR10DataModule(StandardDataModule):
    """CIFAR-10: 50,000 + 10,000 colour 32x32 images of 10 classes (Krizhevsky, 2009).

    Training augmentation by default: random crop with 4 pixels of padding and a horizontal flip.
    Arguments: see ``StandardDataModule``.
    """

    reader = _CIFAR10Files
    folder = "cifar-10-batches-py"
    files = (*(f"data_batch_{i}" for i in range(1, 6)), "batches.meta", "test_batch")
    url = datasets.CIFAR10.url
    image_shape = (3, 32, 32)
    mean = (0.4914, 0.4822, 0.4465)
    std = (0.2470, 0.2435, 0.2616)

    def __init__(
        self,
        data_dir: str = "data",
        download: bool = True,
        val_fraction: float = 0.1,
        batch_size: int = 128,
        num_workers: int | None = None,
        seed: int = 0,
        gpu_resident: bool = False,
        crop_padding: int = 4,
        flip: bool = True,
    ) -> None:
        super().__init__(
            data_dir, download, val_fraction, batch_size, num_workers, seed, gpu_resident, crop_padding, flip
        )


class CIFAR100DataModule(CIFAR10DataModule):
    """CIFAR-100: 50,000 + 10,000 colour 32x32 images of 100 classes (fine labels).

    Same augmentation as CIFAR-10. Arguments: see ``StandardDataModule``.
    """

    reader = _CIFAR100Files
    folder = "cifar-100-python"
    files = ("train", "meta", "test")
    url = datasets.CIFAR100.url
    mean = (0.5071, 0.4865, 0.4409)
    std = (0.2673, 0.2564, 0.2762)
