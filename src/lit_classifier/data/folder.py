"""The user's own images: one sub-folder per class, as torchvision's ``ImageFolder`` expects.

    photos/cat/001.jpg, photos/cat/002.png, ..., photos/dog/001.jpg, ...
    lit-classifier fit --config configs/image_folder.yaml --data.root photos

Two layouts: ``root/train/<class>/...`` with ``root/val/<class>/...`` (and optionally
``root/test/<class>/...``), or ``root/<class>/...`` split into train and val by ``val_fraction``
with a fixed seed. Class names are the folder names, sorted, so the label order is the same on every
machine; they reach the checkpoint through the model, so ``predict`` prints them.

Every image is checked once at ``setup`` (``images.readable``), so an unreadable, truncated or
oversized file is found there: skipped and reported once by default, or an error naming it with
``strict``. That costs one read of the folder per run; for folders too large for that,
``verify: false`` skips the check, and a bad file then fails when it is loaded, naming its path. An
empty folder, or a class folder with no images, is an error at ``setup``.

Without ``image_size`` the images choose it: the median shorter side of up to ``SIZE_SAMPLE`` training
images, read from their headers (a few milliseconds), rounded to a multiple of ``SIZE_STEP`` and kept
between ``SMALLEST_IMAGE_SIZE`` and ``LARGEST_IMAGE_SIZE``, so that a folder of 48-pixel icons is not
blown up 21 times in pixels to 224; a pretrained network keeps the size its weights were trained on.
``fit`` prints the size and why, and the checkpoint records it as if it had been given.

Images are decoded one by one in the loader's workers (``lit_classifier.data.decode``: libjpeg-turbo
into uint8 tensors, cropped and resized there; ``benchmarks/decoding.py`` measures it against
torchvision's ``ImageFolder`` with the usual transforms).
"""

from __future__ import annotations

import logging
import statistics
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from PIL import Image
from torch import Tensor, nn
from torch.utils.data import Dataset
from torchvision.datasets.folder import IMG_EXTENSIONS

from lit_classifier.data.augment import FILE_AUGMENTATION, Augmentation
from lit_classifier.data.base import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    EncodedImagesDataModule,
)
from lit_classifier.data.decode import Decoder
from lit_classifier.data.images import IMAGE_FORMATS, image_files, readable
from lit_classifier.data.splits import check_fraction, random_split_indices
from lit_classifier.errors import DataError

log = logging.getLogger(__name__)

Sample = tuple[Path, int]

#: The largest image size the images choose, and the size when they cannot say (a folder that is not
#: there yet, reported at setup): the side pretrained ImageNet networks were trained on.
LARGEST_IMAGE_SIZE = 224
#: The smallest: the reference networks halve the image up to four times before pooling it.
SMALLEST_IMAGE_SIZE = 16
#: A chosen size is a multiple of this, so that each halving of the image by a network is exact.
SIZE_STEP = 8
#: How many images' headers the size is chosen from: spread evenly over the sorted files.
SIZE_SAMPLE = 200


class ImageFiles(Dataset):
    """(path, label) pairs, decoded and brought to the network's size when indexed (``decode``): uint8
    pixels, which the loader's ``BatchTransform`` flips (when training) and standardises per batch."""

    def __init__(self, samples: list[Sample], decoder: Decoder) -> None:
        self.samples = samples
        self.decoder = decoder

    def __len__(self) -> int:
        return len(self.samples)

    @property
    def labels(self) -> list[int]:
        return [label for _, label in self.samples]

    def __getitem__(self, index: int) -> tuple[Tensor, int]:
        data, label = self.encoded(index)
        return self.decoder(data, str(self.samples[index][0])), label

    def encoded(self, index: int) -> tuple[bytes, int]:
        """The file's bytes as stored, and its label (what a conversion to streaming chunks keeps)."""
        path, label = self.samples[index]
        try:
            return path.read_bytes(), label
        except OSError as error:
            raise DataError(f"cannot read image {path}: {error}") from error


class ImageFolderDataModule(EncodedImagesDataModule):
    """Images in class folders: split, decoded, resized, cropped and normalised.

    Args:
        root: the folder; either ``root/train`` and ``root/val`` (``root/test`` optional; otherwise
            test is val) or class folders directly in ``root``.
        val_fraction: share of the images held out for validation when there is no ``val`` folder.
        image_size: side of the square the network sees (see ``EncodedImagesDataModule``);
            ``None``: chosen from the training images (see the module docstring).
        resize: shorter side of evaluation images before their centre crop; ``None``: image_size / 0.875.
        augment: what training images go through: a random part of 35% to 100% of the area and a
            flip by default (see ``EncodedImagesDataModule``).
        mean: per-channel mean of the standardisation (ImageNet's by default, for pretrained networks).
        std: per-channel standard deviation of the standardisation (ImageNet's by default).
        verify: check every image at setup to find unreadable ones (see the module docstring).
        batch_size: see ``ClassificationDataModule``; 32 here, for images of 224 pixels.
        **kwargs: the other options of ``ClassificationDataModule`` (``strict``, ``seed``, ...).
    """

    def __init__(
        self,
        root: str,
        *,
        val_fraction: float = 0.2,
        image_size: int | None = None,
        resize: int | None = None,
        augment: Augmentation = FILE_AUGMENTATION,
        mean: tuple[float, float, float] = IMAGENET_MEAN,
        std: tuple[float, float, float] = IMAGENET_STD,
        verify: bool = True,
        batch_size: int = 32,
        **kwargs: Any,
    ) -> None:
        root_path = Path(root).expanduser().resolve()  # absolute paths in messages
        chosen = None if image_size is not None else chosen_image_size(root_path, resize)
        super().__init__(
            image_size=chosen[0] if chosen is not None else image_size or LARGEST_IMAGE_SIZE,
            resize=resize,
            augment=augment,
            mean=mean,
            std=std,
            batch_size=batch_size,
            **kwargs,
        )
        check_fraction("val_fraction", val_fraction)
        self.root = root_path
        self.val_fraction = val_fraction
        self.verify = verify
        # Recorded as if given, so that predict, serve and export prepare images at the same size.
        self.hparams["image_size"] = self.image_size
        self._size_note = None if chosen is None else chosen[1]

    def setup(self, stage: str | None = None) -> None:
        if self._size_note is not None:
            self._adopt_pretrained_size()
            if self.trainer is None or self.trainer.is_global_zero:
                print(f"image size {self.image_size} ({self._size_note}; --data.image_size to change)")
            self._size_note = None  # said once
        super().setup(stage)
        # Evaluating the validation images as a test is no test: the command says so where it does it.
        if stage != "test" or not isinstance(self.val_set, ImageFiles) or self.test_set is not self.val_set:
            return
        if self.trainer is None or self.trainer.is_global_zero:
            print(
                f"{self.root} has no test/ folder: test evaluates the {len(self.val_set)} validation "
                "images (add root/test/<class>/ for a test of images held out from both)"
            )

    def _adopt_pretrained_size(self) -> None:
        """A size chosen from the images gives way to the one the network's pretrained weights were
        trained on (``pretrained_image_size``): fine-tuning at another size loses accuracy."""
        module = None if self.trainer is None else self.trainer.lightning_module
        network = getattr(module, "model", None)
        size = pretrained_image_size(network) if isinstance(network, nn.Module) else None
        given_resize = self.hparams.get("resize")
        if size is None or size == self.image_size or (given_resize is not None and given_resize < size):
            return
        self.image_size = size
        self.resize = given_resize if given_resize is not None else round(size / 0.875)
        self.hparams["image_size"] = size
        self._size_note = "the size the pretrained network's weights were trained on"

    def load_splits(self) -> Mapping[str, Dataset]:
        if not self.root.is_dir():
            raise DataError(f"image folder {self.root} does not exist")
        if (self.root / "train").is_dir():
            train_dir = self.root / "train"
            self._class_names = class_folders(train_dir)
            train = self._readable(list_images(train_dir, self._class_names))
            val_dir = next(
                (self.root / n for n in ("val", "valid", "validation") if (self.root / n).is_dir()), None
            )
            if val_dir is None:
                train, val = self._hold_out(train)
            else:
                val = self._readable(list_images(val_dir, self._class_names))
            test_dir = self.root / "test"
            test = self._readable(list_images(test_dir, self._class_names)) if test_dir.is_dir() else val
        else:
            self._class_names = class_folders(self.root)
            train, val = self._hold_out(self._readable(list_images(self.root, self._class_names)))
            test = val
        evaluation = self.decoder(train=False)
        val_set = ImageFiles(val, evaluation)
        return {
            "train": ImageFiles(train, self.decoder(train=True)),
            "val": val_set,
            "test": val_set if test is val else ImageFiles(test, evaluation),
        }

    def _hold_out(self, samples: list[Sample]) -> tuple[list[Sample], list[Sample]]:
        rest, held_out = random_split_indices(len(samples), (self.val_fraction,), seed=self.seed)
        return [samples[i] for i in rest.tolist()], [samples[i] for i in held_out.tolist()]

    def _readable(self, samples: list[Sample]) -> list[Sample]:
        """The samples whose image can be read; the others are reported once each, or fail (strict)."""
        if not self.verify:
            return samples
        good = set(readable([path for path, _ in samples], self.strict, self.max_image_pixels))
        kept = [(path, label) for path, label in samples if path in good]
        if len(kept) < len(samples):
            log.warning("skipped %d of %d images under %s", len(samples) - len(kept), len(samples), self.root)
        empty = {label for _, label in samples} - {label for _, label in kept}
        if empty:
            names = ", ".join(self._class_names[c] for c in sorted(empty))
            raise DataError(f"no readable image left for class(es) {names} under {self.root}")
        return kept


def class_folders(folder: Path) -> list[str]:
    """Names of the class sub-folders, sorted; an error if there are fewer than two. Hidden folders
    are no classes: torchvision's ``find_classes`` would take Jupyter's ``.ipynb_checkpoints`` for one."""
    names = sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not names:
        raise DataError(
            f"{folder} has no class folders: put each class's images in a sub-folder named after "
            f"the class, e.g. {folder / 'cat' / '001.jpg'}"
        )
    if len(names) < 2:
        raise DataError(f"{folder} has one class folder ({names[0]}); a classifier needs two or more")
    return names


def list_images(folder: Path, class_names: list[str]) -> list[Sample]:
    """Every image file under ``folder/<class>/`` (any depth), sorted, labelled by class index."""
    present = sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    unknown = sorted(set(present) - set(class_names))
    if unknown:
        raise DataError(
            f"{folder} has class folder(s) {', '.join(unknown)} that the training folder lacks "
            f"(training classes: {', '.join(class_names)})"
        )
    samples: list[Sample] = []
    for label, name in enumerate(class_names):
        class_dir = folder / name
        if not class_dir.is_dir():
            continue
        files = image_files(class_dir)
        if not files:
            raise DataError(
                f"class folder {class_dir} has no images (looked for {', '.join(IMG_EXTENSIONS)})"
            )
        samples += [(path, label) for path in files]
    return samples


def chosen_image_size(root: Path, resize: int | None = None) -> tuple[int, str] | None:
    """The image size that the training images under ``root`` choose when none is given, and why
    (see the module docstring); ``None`` when no image there can be read (setup says why). Only
    headers are read: PIL reads the size without decoding a pixel."""
    folder = root / "train" if (root / "train").is_dir() else root
    if not folder.is_dir():
        return None
    files = [
        path
        for class_dir in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
        for path in image_files(class_dir)
    ]
    sample = files[:: max(1, -(-len(files) // SIZE_SAMPLE))]
    with ThreadPoolExecutor(max_workers=8) as pool:
        sides = [side for side in pool.map(shorter_side, sample) if side is not None]
    if not sides:
        return None
    median = statistics.median_low(sides)
    largest = LARGEST_IMAGE_SIZE if resize is None else min(LARGEST_IMAGE_SIZE, resize)
    size = min(max(SIZE_STEP * round(median / SIZE_STEP), SMALLEST_IMAGE_SIZE), largest)
    return size, (
        f"the median shorter side of {len(sides)} training images, {median} pixels, rounded to a "
        f"multiple of {SIZE_STEP} within {SMALLEST_IMAGE_SIZE} to {largest}"
    )


def shorter_side(path: Path) -> int | None:
    """The shorter side of the image at ``path``, from its header; ``None`` if it cannot be read."""
    try:
        with Image.open(path, formats=IMAGE_FORMATS) as image:
            return min(image.size)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        return None  # an unreadable file chooses nothing; setup reports it


def pretrained_image_size(network: nn.Module) -> int | None:
    """The side of the images that the network's pretrained weights were trained on, if one of its
    parts says (``pretrained_image_size``, as ``TorchvisionModel`` and ``TimmModel`` do)."""
    sizes = (getattr(part, "pretrained_image_size", None) for part in network.modules())
    return next((size for size in sizes if isinstance(size, int)), None)
