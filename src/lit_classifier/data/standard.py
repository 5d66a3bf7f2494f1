"""The standard benchmark sets through torchvision: MNIST, Fashion-MNIST, CIFAR-10 and CIFAR-100.

Each downloads its files into ``data_dir`` the first time (``prepare_data``, run by one process)
and reads them from there afterwards; offline, with the files absent, setup stops with a message
listing the files it expected, where, and how to get them. The official test split is ``test``;
validation is carved from the training split with a fixed seed. The splits are uint8 tensors in
memory, so ``gpu_resident: true`` can hold them on the accelerator (``lit_classifier.data.augment``).
The files are read as data and checked by ``standard_files``, each malformed one an error naming it:
MNIST's idx files (their header against their size, before anything is allocated), CIFAR's pickled
batches (an unpickler that builds numpy arrays and nothing else), never by ``pickle.load``.

A set is described by data (``StandardSet``: files, url, shape, statistics, how to download and
read it); its class states only the defaults it changes (the CIFARs: a flip).

    lit-classifier fit --config configs/cifar10.yaml
    lit-classifier fit --data lit_classifier.MNISTDataModule --data.data_dir ~/data
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from torch import Tensor
from torch.utils.data import Dataset
from torchvision import datasets
from torchvision.datasets.utils import download_and_extract_archive

from lit_classifier.data.augment import Augmentation
from lit_classifier.data.base import ClassificationDataModule
from lit_classifier.data.splits import ImageTensors, carve_validation, check_fraction, check_labels
from lit_classifier.data.standard_files import read_batches, read_class_names, read_idx_pair
from lit_classifier.errors import UnavailableError

#: One split as read from the files: images (N, C, H, W) uint8, labels (N,), the class names.
Split = tuple[Tensor, Tensor, list[str]]


@dataclass(frozen=True)
class StandardSet:
    """What sets one torchvision set apart from another.

    Attributes:
        reader: torchvision's data set class: its download addresses and checksums.
        folder: where the files are, under ``data_dir``.
        files: what must be there to read the set.
        url: where the files come from, for the offline message.
        shape: (channels, height, width) of one image.
        mean: per-channel mean of the [0, 1]-scaled training pixels.
        std: per-channel standard deviation of the same.
        download: fetches the files into ``data_dir``, checking them against their md5 sums.
        read: ``read(data_dir, train)`` gives a split, reading the files as data only.
    """

    reader: type[datasets.VisionDataset]
    folder: str
    files: tuple[str, ...]
    url: str
    shape: tuple[int, int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    download: Callable[[Path], None]
    read: Callable[[Path, bool], Split]


_MNIST_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


def _idx_set(reader: Any, mean: tuple[float, ...], std: tuple[float, ...]) -> StandardSet:
    """An MNIST-format set: four idx files under ``<reader name>/raw``, 28x28 gray images, read with
    ``standard_files`` (the format is a header and bytes: nothing in it is executed); torchvision's
    reader downloads them and names the classes."""
    folder = f"{reader.__name__}/raw"

    def download(data_dir: Path) -> None:
        for train in (True, False):
            reader(str(data_dir), train=train, download=True)

    def read(data_dir: Path, train: bool) -> Split:
        raw, split = data_dir / folder, "train" if train else "t10k"
        images, labels = read_idx_pair(raw / f"{split}-images-idx3-ubyte", raw / f"{split}-labels-idx1-ubyte")
        return images, labels, [str(name) for name in reader.classes]

    url = f"{reader.mirrors[0]} (the four *-ubyte.gz files, gunzipped)"
    return StandardSet(reader, folder, _MNIST_FILES, url, (1, 28, 28), mean, std, download, read)


def _pickle_set(reader: Any, label_key: str, mean: tuple[float, ...], std: tuple[float, ...]) -> StandardSet:
    """A CIFAR-format set: python pickle batches and a meta file, 32x32 colour images, read with
    ``standard_files`` (never torchvision's ``pickle.load``)."""
    train_names = [name for name, _ in reader.train_list]
    test_names = [name for name, _ in reader.test_list]

    def download(data_dir: Path) -> None:
        download_and_extract_archive(reader.url, str(data_dir), filename=reader.filename, md5=reader.tgz_md5)

    def read(data_dir: Path, train: bool) -> Split:
        folder = data_dir / reader.base_folder
        images, labels = read_batches(folder, train_names if train else test_names, label_key)
        return images, labels, read_class_names(folder / reader.meta["filename"], reader.meta["key"])

    files = (*train_names, *test_names, reader.meta["filename"])
    return StandardSet(reader, reader.base_folder, files, reader.url, (3, 32, 32), mean, std, download, read)


# Each set's folder, files and url are those of its torchvision reader; the statistics are its own.
MNIST = _idx_set(datasets.MNIST, (0.1307,), (0.3081,))
FASHION_MNIST = _idx_set(datasets.FashionMNIST, (0.2860,), (0.3530,))
CIFAR10 = _pickle_set(datasets.CIFAR10, "labels", (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))
CIFAR100 = _pickle_set(datasets.CIFAR100, "fine_labels", (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762))


class StandardDataModule(ClassificationDataModule):
    """A torchvision set (``spec``) read into uint8 tensors.

    Args:
        data_dir: folder holding the data set (torchvision's layout); created when downloading.
        download: download the files when they are missing (once, by one process).
        val_fraction: share of the official training split held out for validation (seeded).
        batch_size: see ``ClassificationDataModule``; 64, the batch the recipe's lr 0.05 is for (128
            halved the optimizer steps of the default 8 epochs, and the rendered CIFAR-format objects
            of ``benchmarks/real_data.py`` reached the hand-written recipe's accuracy only at 64).
        **kwargs: the other options of ``ClassificationDataModule`` (``gpu_resident``, ...).
    """

    spec: ClassVar[StandardSet]

    def __init__(
        self,
        *,
        data_dir: str = "data",
        download: bool = True,
        val_fraction: float = 0.1,
        batch_size: int = 64,
        **kwargs: Any,
    ) -> None:
        super().__init__(batch_size=batch_size, **kwargs)
        check_fraction("val_fraction", val_fraction)
        self.data_dir = Path(data_dir).expanduser()
        self.download = download
        self.val_fraction = val_fraction
        self.mean, self.std = self.spec.mean, self.spec.std
        self._class_names: list[str] = []

    @property
    def class_names(self) -> list[str]:
        if not self._class_names:
            raise RuntimeError(f"{type(self).__name__} reads its class names in setup(): call it first")
        return self._class_names

    @property
    def dims(self) -> tuple[int, int, int]:
        return self.spec.shape

    def missing_files(self) -> list[Path]:
        folder = self.data_dir / self.spec.folder
        return [path for path in (folder / name for name in self.spec.files) if not path.is_file()]

    def prepare_data(self) -> None:
        """Download the files if they are missing and ``download`` is on (one process per machine).

        A download that fails leaves nothing behind: no empty folder, no half-written archive.
        """
        if not self.missing_files() or not self.download:
            return
        try:
            with _removed_on_failure(self.data_dir, self.data_dir / Path(self.spec.folder).parts[0]):
                self.spec.download(self.data_dir)
        except (OSError, RuntimeError) as error:  # URLError is an OSError; torchvision wraps some
            raise self._missing_error(f"the download failed ({_innermost_reason(error)})") from None

    def load_splits(self) -> Mapping[str, Dataset]:
        if self.missing_files():
            reason = "the download failed or did not run" if self.download else "download is off"
            raise self._missing_error(reason)
        train, val = carve_validation(self._read(train=True), self.val_fraction, self.seed)
        splits = {"train": train, "val": val, "test": self._read(train=False)}
        for name, split in splits.items():
            where = f"the {name} split of {type(self).__name__} ({split.source})"
            check_labels(split.labels, self.num_classes, where)
        return splits

    def _read(self, train: bool) -> ImageTensors:
        images, labels, self._class_names = self.spec.read(self.data_dir, train)
        source = f"the {'training' if train else 'test'} files in {self.data_dir / self.spec.folder}"
        return ImageTensors(images.contiguous(), labels, source)

    def _missing_error(self, reason: str) -> UnavailableError:
        where = self.data_dir / self.spec.folder
        listed = "\n".join(f"  {where / name}" for name in self.spec.files)
        return UnavailableError(
            f"{type(self).__name__}: {reason}, and these files are missing:\n{listed}\n"
            f"Get them by running once with network access and `--data.download true` "
            f"(data_dir={self.data_dir}), or download {self.spec.url} and unpack it so that the files "
            f"above exist; then point --data.data_dir at the folder."
        )


@contextmanager
def _removed_on_failure(data_dir: Path, own: Path) -> Iterator[None]:
    """Remove what the block wrote into ``data_dir`` (its entries) and into ``own`` (at any depth)
    if it raises: a failed download is as if it had not started."""

    def present() -> set[Path]:
        found = {data_dir} if data_dir.exists() else set()
        found.update(data_dir.iterdir() if data_dir.is_dir() else ())
        found.update(own.rglob("*") if own.is_dir() else ())
        return found

    before = present()
    try:
        yield
    except BaseException:
        for path in sorted(present() - before, key=lambda p: len(p.parts)):
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        raise


def _innermost_reason(error: BaseException) -> str:
    """The last line of the message: torchvision lists each mirror it tried, the cause comes last."""
    return (str(error).strip().splitlines() or [type(error).__name__])[-1]


#: The CIFARs' training augmentation: every class of theirs is itself in a mirror.
FLIP = Augmentation(flip=True)


class MNISTDataModule(StandardDataModule):
    """MNIST: 60,000 + 10,000 grayscale 28x28 handwritten digits (LeCun et al.).

    No augmentation by default; ``augment: {crop_padding: 2}`` is a light one that suits digits.
    Never flip: a mirrored digit is no digit (or another one). Arguments: see ``StandardDataModule``.
    """

    spec = MNIST


class FashionMNISTDataModule(StandardDataModule):
    """Fashion-MNIST: 60,000 + 10,000 grayscale 28x28 images of 10 kinds of clothing (Zalando).

    No augmentation by default. Every class is still itself in a mirror (a mirrored shoe is a shoe),
    so ``augment: {flip: true}`` is safe here. Arguments: see ``StandardDataModule``.
    """

    spec = FASHION_MNIST


class CIFAR10DataModule(StandardDataModule):
    """CIFAR-10: 50,000 + 10,000 colour 32x32 images of 10 classes (Krizhevsky, 2009).

    Training augmentation by default: a horizontal flip, because every CIFAR-10 class is still itself
    in a mirror (a mirrored ship is a ship). No random crop by default: in the default 8 epochs it
    slowed learning more than it helped (``benchmarks/real_data.py``); ``configs/cifar10.yaml``
    trains 20 epochs with ``crop_padding: 4``, the classic setting for long runs.

    Args:
        augment: a flip by default (every class survives a mirror; ``flip: false`` for images that a
            mirror changes: text, digits, signs that point left or right); ``crop_padding: 4`` for
            runs of tens of epochs.
        **kwargs: see ``StandardDataModule``.
    """

    spec = CIFAR10

    def __init__(self, *, augment: Augmentation = FLIP, **kwargs: Any) -> None:
        super().__init__(augment=augment, **kwargs)


class CIFAR100DataModule(StandardDataModule):
    """CIFAR-100: 50,000 + 10,000 colour 32x32 images of 100 classes (fine labels).

    Same augmentation as CIFAR-10: a flip, no crop.

    Args:
        augment: a flip by default (every class survives a mirror: an apple, a bicycle, a whale);
            ``crop_padding: 4`` for runs of tens of epochs.
        **kwargs: see ``StandardDataModule``.
    """

    spec = CIFAR100

    def __init__(self, *, augment: Augmentation = FLIP, **kwargs: Any) -> None:
        super().__init__(augment=augment, **kwargs)
