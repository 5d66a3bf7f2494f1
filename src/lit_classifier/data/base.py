"""What every data module shares: its options, its splits, and the one place where loaders are made.

A data module reads its splits (``load_splits``) and knows what the model must know about them
(``class_names``, ``dims``). Every loader comes from ``loader(split)``, the one seam where a
subclass changes how batches are made: a ``DataLoader`` whose order comes from
``splits.distributed_sampler`` and whose ``collate_fn`` augments and standardises each batch
(``augment.BatchTransform``), or, with ``gpu_resident``, ``augment.DeviceBatches``: the same order and
the same batch transform, on the device. New images and served requests are prepared as the
evaluation images are (``evaluation_transform``).

**Encoded images** (``EncodedImagesDataModule``: image folders, streaming chunks, Hugging Face sets):
their samples are the bytes of image files (JPEG, PNG, ...), decoded one by one in the loader's
workers (``decode``) and brought to the network's size: a random resized crop for training (with
``augment``), the shorter side resized and the centre cropped for evaluation and for new images.
Every batch is then flipped (training) and standardised by ``augment.BatchTransform``.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sized
from pathlib import Path, PurePath
from typing import Any, ClassVar, Literal

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset

from lit_classifier.data.augment import (
    FILE_AUGMENTATION,
    NONE,
    Augmentation,
    BatchTransform,
    CollateBatch,
    DeviceBatches,
)
from lit_classifier.data.decode import (
    Decoder,
    EvaluationImage,
    EvaluationTransform,
    PredictImages,
    RandomResizedCropDecode,
)
from lit_classifier.data.images import MAX_IMAGE_PIXELS
from lit_classifier.data.interfaces import ListsLabels
from lit_classifier.data.splits import (
    ImageTensors,
    check_at_least,
    distributed_sampler,
    epoch_to_train,
    process_grid,
    training_position,
)
from lit_classifier.errors import ConfigError, DataError
from lit_classifier.framework import CLI_KEYS


class ClassificationDataModule(L.LightningDataModule, ABC):
    """Base of the data modules: the model takes ``num_classes``, ``class_names`` and ``dims`` from
    here, so nobody types the class count twice.

    Subclasses return their splits from ``load_splits`` (or fill ``train_set``, ``val_set`` and
    ``test_set`` in their own ``setup``). ``hparams`` holds the init arguments as plain data:
    ``type(data)(**data.hparams)`` builds the same data module again.

    Args:
        batch_size: images per training (and evaluation) step of each process: with several
            processes (DDP) one optimizer step sees ``batch_size`` x the number of processes.
        num_workers: DataLoader worker processes; ``None``: ``default_num_workers()``.
        seed: seed of the splits, the training order and the augmentation.
        gpu_resident: hold each split on the Trainer's device and make batches there
            (``lit_classifier.data.augment``): no workers, no per-batch copies. For sets held in memory
            that fit in device memory; works on the CPU too.
        augment: what training images may go through (``augment.Augmentation``: ``flip``,
            ``crop_padding``, ``crop_scale``); none here: digits must never be mirrored.
        sampling: the training order. ``"shuffle"``: every image once per epoch; ``"balanced"``: each
            epoch draws as many images as the split holds, with replacement, every class equally
            likely (for imbalanced classes; under DDP each process takes its share of one draw).
            Evaluation always counts every image once.
        predict_root: an image file, or a folder searched at any depth for image files, that
            ``predict`` classifies instead of the test split (see ``lit_classifier.data.decode``).
        strict: an unreadable image (under ``predict_root``, or in an image folder) is an error
            naming it, instead of being skipped with a warning.
        max_image_pixels: an image file of more pixels (width x height) is refused from its header,
            before it is decoded, as an unreadable one is: a few bytes of PNG can claim gigabytes.
            The default is Pillow's own limit, over which it only warns (it refuses twice that,
            whatever this says).
    """

    # Per-channel statistics of the [0, 1]-scaled pixels: every batch is standardised with them.
    # The defaults leave the pixels as they are.
    mean: tuple[float, ...] = (0.0,)
    std: tuple[float, ...] = (1.0,)
    # The splits are files decoded as they load rather than tensors in memory: workers by default,
    # and no gpu_resident.
    reads_files: ClassVar[bool] = False

    def __init__(
        self,
        *,
        batch_size: int = 64,
        num_workers: int | None = None,
        seed: int = 0,
        gpu_resident: bool = False,
        augment: Augmentation = NONE,
        sampling: Literal["shuffle", "balanced"] = "shuffle",
        predict_root: str | None = None,
        strict: bool = False,
        max_image_pixels: int = MAX_IMAGE_PIXELS,
    ) -> None:
        super().__init__()
        # Every init argument of the whole class chain (Lightning follows the `super().__init__`
        # calls); the model records them so that `predict` can build this data module again.
        self.save_hyperparameters(ignore=list(CLI_KEYS), logger=False)
        # Plain data only, so that a checkpoint holding them loads with weights_only=True.
        self.hparams.update({k: str(v) for k, v in self.hparams.items() if isinstance(v, PurePath)})
        self.augment = Augmentation.of(augment)
        self.hparams["augment"] = self.augment.as_dict()
        check_at_least("batch_size", batch_size, 1)
        check_at_least("num_workers", 0 if num_workers is None else num_workers, 0)
        check_at_least("max_image_pixels", max_image_pixels, 1)
        if self.augment.crop_scale is not None and not self.reads_files:
            raise ConfigError(
                f"augment.crop_scale: {type(self).__name__} holds its images as tensors at the network's "
                "size, and crop_scale crops images as they are decoded from files: use crop_padding"
            )
        if gpu_resident and self.reads_files:
            raise ConfigError(
                f"gpu_resident: {type(self).__name__} decodes image files as it loads them; only sets "
                "held in memory (digits, MNIST, Fashion-MNIST, CIFAR, synthetic) can live on the "
                "device: set gpu_resident false"
            )
        if predict_root is not None and not Path(predict_root).expanduser().exists():
            raise DataError(f"predict_root {predict_root} does not exist: name an image file or a folder")
        self.batch_size = batch_size
        self.sampling = sampling
        self.num_workers = num_workers
        self.seed = seed
        self.gpu_resident = gpu_resident
        self.predict_root = predict_root
        self.strict = strict
        self.max_image_pixels = max_image_pixels
        self.train_set: Dataset | None = None
        self.val_set: Dataset | None = None
        self.test_set: Dataset | None = None
        self._new_images: PredictImages | None = None
        self._resume_at: tuple[int, int] | None = None

    @property
    @abstractmethod
    def class_names(self) -> list[str]:
        """One name per class, in label order."""

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def batch_size(self) -> int:
        """Images per training step of each process (``__init__``'s ``batch_size``)."""
        return self._batch_size

    @batch_size.setter
    def batch_size(self, value: int) -> None:
        # Lightning's BatchSizeFinder doubles the batch size once the splits are read, and stops once it
        # reaches the training split's length; training keeps full batches only, so a larger size is
        # taken as the whole split (each process's share). Given to __init__, it is checked instead.
        train_set, trainer = getattr(self, "train_set", None), getattr(self, "trainer", None)
        if isinstance(train_set, Sized) and trainer is not None:
            processes = process_grid(trainer)[0]
            value = min(value, -(-len(train_set) // processes))
        self._batch_size = value

    @property
    @abstractmethod
    def dims(self) -> tuple[int, int, int]:
        """(channels, height, width) of one image as the model receives it."""

    @property
    def image_mode(self) -> str:
        """The PIL mode of the set's own images, which a new image is converted to."""
        return "L" if self.dims[0] == 1 else "RGB"

    def evaluation_decoder(self) -> Decoder:
        """How an image file becomes this module's evaluation pixels (uint8, ``dims``): the set's
        colour mode and channel count, the shorter side resized and the centre cropped to ``dims``."""
        channels, height, width = self.dims
        size = (height, width)
        return EvaluationImage(max(size), size, self.image_mode, channels, self.max_image_pixels)

    def evaluation_transform(self) -> EvaluationTransform:
        """How an image file becomes this module's input, as its evaluation images are made: for new
        images (``predict_root``, ``predict_images``) and served requests."""
        decode, standardize = self.evaluation_decoder(), self.batch_transform(train=False)
        return EvaluationTransform(decode, standardize, self.max_image_pixels)

    def default_num_workers(self) -> int:
        """Workers when ``num_workers`` is ``None``. Files from disk and per-batch augmentation want
        workers (leaving one core for the training process); a set in memory without augmentation
        costs one gather and one standardisation per batch, fastest in the main process."""
        if not (self.reads_files or self.augment.draws):
            return 0
        return max(1, min(8, (os.cpu_count() or 1) - 1))

    @property
    def loader_workers(self) -> int:
        """The DataLoaders' worker processes: ``num_workers``, or ``default_num_workers()`` for ``None``."""
        return self.default_num_workers() if self.num_workers is None else self.num_workers

    def load_splits(self) -> Mapping[str, Dataset]:
        """The ``train``, ``val`` and ``test`` splits, read from wherever the set lives."""
        raise NotImplementedError(
            f"{type(self).__name__} returns its splits from load_splits() or fills them in setup()"
        )

    def setup(self, stage: str | None = None) -> None:
        """Read the splits, once: every stage needs them, if only for the class names they bring;
        but ``predict`` with ``predict_root`` lists and checks only the new images (the classes are
        the checkpoint's), so a trained model predicts where its training data is absent."""
        new_images_only = stage == "predict" and self.predict_root is not None
        if self.train_set is None and not new_images_only:
            splits = self.load_splits()
            self.train_set, self.val_set, self.test_set = splits["train"], splits["val"], splits["test"]
        if self.predict_root is not None and stage in (None, "predict") and self._new_images is None:
            decode = self.evaluation_decoder()
            self._new_images = PredictImages(
                self.predict_root, decode, strict=self.strict, max_pixels=self.max_image_pixels
            )

    def state_dict(self) -> dict[str, Any]:
        """Saved in each checkpoint: where training stood in its epoch, if inside one, so that a
        resume goes on at the next batch of that epoch's order instead of its first."""
        position = training_position(self.trainer)
        return {} if position is None else {"training_position": list(position)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        position = state_dict.get("training_position")
        self._resume_at = None if position is None else (int(position[0]), int(position[1]))

    @property
    def resumes_mid_epoch(self) -> bool:
        """Whether this fit resumed inside an epoch, continuing its training order where it stood."""
        return self._resume_at is not None

    def teardown(self, stage: str) -> None:
        self._resume_at = None  # the position belongs to the fit that restored it

    @property
    def splits(self) -> dict[str, Dataset]:
        """The splits read so far, by name."""
        named = {"train": self.train_set, "val": self.val_set, "test": self.test_set}
        return {name: dataset for name, dataset in named.items() if dataset is not None}

    @property
    def predict_set(self) -> Dataset | None:
        """What ``predict`` classifies: the images under ``predict_root`` if set, else the test split."""
        return self.test_set if self.predict_root is None else self._new_images

    def train_dataloader(self) -> Iterable:
        return self.loader("train")

    def val_dataloader(self) -> Iterable:
        return self.loader("val")

    def test_dataloader(self) -> Iterable:
        return self.loader("test")

    def predict_dataloader(self) -> Iterable:
        return self.loader("predict")

    def loader(self, split: str) -> Iterable:
        """The loader of ``split`` (``train``, ``val``, ``test`` or ``predict``): device-resident
        batches, or a DataLoader with the same order and the same batch transform. Every Lightning
        loader hook comes here; a subclass that makes batches another way overrides this."""
        dataset = self.dataset(split)
        if self.gpu_resident and isinstance(dataset, ImageTensors):
            return self.device_batches(split)
        train = split == "train"
        workers = self.loader_workers
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            sampler=self._sampler(dataset, split),  # training: shuffled, by (seed, epoch)
            # Full batches only while training: a last batch of 3 images gives a noisy step (and
            # breaks batch norm at size 1); evaluation must see every sample.
            drop_last=train,
            collate_fn=CollateBatch(self.batch_transform(train)),
            num_workers=workers,
            persistent_workers=workers > 0,
            pin_memory=self.trainer is not None and self.trainer.strategy.root_device.type == "cuda",
        )

    def device_batches(self, split: str, device: torch.device | str | None = None) -> DeviceBatches:
        """``split`` held on ``device`` (default: the Trainer's root device, else the CPU), batched
        there; each process of a multi-process run iterates over its own shard."""
        dataset = self.dataset(split)
        if not isinstance(dataset, ImageTensors):
            raise TypeError(f"the {split} split of {type(self).__name__} is not held in memory as tensors")
        if device is None:
            device = self.trainer.strategy.root_device if self.trainer is not None else "cpu"
        train = split == "train"
        return DeviceBatches(
            dataset,
            self.batch_size,
            self.batch_transform(train),
            sampler=self._sampler(dataset, split),
            drop_last=train,
            device=device,
            seed=self.seed,
        )

    def batch_transform(self, train: bool) -> BatchTransform:
        """What a batch of ``train`` or evaluation pixels goes through on either path."""
        return BatchTransform(self.mean, self.std, self.augment if train else NONE)

    def _sampler(self, dataset: Dataset, split: str) -> torch.utils.data.DistributedSampler | None:
        # Several processes: each gets its own shard, and evaluation counts every sample once.
        balanced = None
        if split == "train" and self.sampling == "balanced":
            if not isinstance(dataset, ListsLabels):
                raise ConfigError(
                    f"sampling=balanced draws by the training split's labels, which {type(self).__name__} "
                    "does not list (data.interfaces.ListsLabels): use sampling=shuffle"
                )
            balanced = torch.as_tensor(dataset.labels, dtype=torch.long)
        return distributed_sampler(
            dataset,
            *process_grid(self.trainer),
            train=split == "train",
            seed=self.seed,
            split=split,
            batch_size=self.batch_size,
            resume_at=self._resume_at,
            epoch=epoch_to_train(self.trainer),
            balanced_labels=balanced,
        )

    def dataset(self, split: str) -> Dataset:
        """The split of that name (``predict``: ``predict_set``); an error before ``setup``."""
        dataset = self.predict_set if split == "predict" else self.splits.get(split)
        if dataset is None:
            raise RuntimeError(f"{type(self).__name__} has no {split} split: call setup() first")
        return dataset


# ImageNet statistics: what torchvision's and timm's pretrained networks were trained with.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class EncodedImagesDataModule(ClassificationDataModule):
    """Base of the data modules whose samples are encoded images, decoded as they load.

    Args:
        image_size: side of the square the network sees.
        resize: evaluation images are resized so their shorter side is this, then centre-cropped to
            ``image_size``; ``None``: ``image_size / 0.875`` (224 from 256, the ImageNet convention).
        augment: what training images go through (``augment.Augmentation``): by default a random
            part of 35% to 100% of the area, resized, and a horizontal flip (``FILE_AUGMENTATION``);
            with neither, training images are prepared as evaluation images.
        mean: per-channel mean for normalisation (default: ImageNet's, for pretrained networks).
        std: per-channel standard deviation for normalisation (default: ImageNet's).
        batch_size: see ``ClassificationDataModule``; 32 here, for images of 224 pixels.
        **kwargs: the other options of ``ClassificationDataModule`` (``seed``, ``num_workers``, ...).
    """

    reads_files: ClassVar[bool] = True

    def __init__(
        self,
        *,
        image_size: int = 224,
        resize: int | None = None,
        augment: Augmentation = FILE_AUGMENTATION,
        mean: tuple[float, ...] = IMAGENET_MEAN,
        std: tuple[float, ...] = IMAGENET_STD,
        batch_size: int = 32,
        **kwargs: Any,
    ) -> None:
        super().__init__(batch_size=batch_size, augment=augment, **kwargs)
        if image_size < 1 or (resize is not None and resize < image_size):
            raise ConfigError(f"need 1 <= image_size <= resize, got image_size={image_size}, resize={resize}")
        self.image_size = image_size
        self.resize = resize if resize is not None else round(image_size / 0.875)
        self.mean = tuple(mean)
        self.std = tuple(std)
        self._class_names: list[str] = []  # filled when the splits are read

    @property
    def class_names(self) -> list[str]:
        """The names read with the splits, at ``setup``."""
        if self._class_names:
            return self._class_names
        raise RuntimeError(f"{type(self).__name__} reads its class names in setup(): call it first")

    @property
    def channels(self) -> int:
        """Channels of the images: 3 (RGB) unless the data says otherwise."""
        return 3

    @property
    def dims(self) -> tuple[int, int, int]:
        return (self.channels, self.image_size, self.image_size)

    def decoder(self, train: bool) -> Decoder:
        """How the samples of a ``train`` or evaluation split are decoded and brought to size."""
        if train and self.augment.crop_scale is not None:
            scale, limit = self.augment.crop_scale, self.max_image_pixels
            return RandomResizedCropDecode(self.image_size, scale, mode=self.image_mode, max_pixels=limit)
        return self.evaluation_decoder()

    def evaluation_decoder(self) -> Decoder:
        size = (self.image_size, self.image_size)
        return EvaluationImage(self.resize, size, self.image_mode, self.channels, self.max_image_pixels)
