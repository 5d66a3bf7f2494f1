"""What both data paths do to a training or evaluation batch: the training augmentation
(``Augmentation``, a data module's ``augment`` option) and the standardisation of whole batches, on
the host (``CollateBatch``) or on the device (``DeviceBatches``).

A batch of stored pixels (uint8 in 0..255, or floats in [0, 1]) is cropped and flipped, each image
with its own random choice (as torchvision's ``RandomCrop(size, padding)`` and
``RandomHorizontalFlip`` would per sample; cifar10-airbench does the same in batches), then scaled
and standardised. The DataLoader path runs this in its ``collate_fn`` (``CollateBatch``), in the
loader's workers when there are any. Cropping comes before standardising so that the padding is
black, as torchvision pads.

**Device-resident batches** (``DeviceBatches``): for sets that fit in device memory (digits, MNIST,
CIFAR: 150 MB as uint8 for CIFAR-10's 50,000 training images) the DataLoader path copies every batch
from the host to the device, which a small network on a fast accelerator waits for (the design
notes' launch-bound regime). There the split is copied to the device once as uint8, and every batch
is one gather and one ``BatchTransform``: the same functions the DataLoader path runs.
``DeviceBatches`` is a plain iterable of ``(images, labels)``: Lightning accepts it as a loader,
leaves it unwrapped (it only injects distributed samplers into ``DataLoader``s) and calls
``sampler.set_epoch(epoch)`` on it at each epoch start. The sampler is the DataLoader path's own
(``splits.distributed_sampler``), so both paths visit the same samples in the same order: a
function of the seed and the epoch, the same again after a restart, each process its own shard.
It works on any device, the CPU included (the tests run there).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import DistributedSampler, default_collate

from lit_classifier.data.splits import ImageTensors
from lit_classifier.errors import ConfigError


@dataclass(frozen=True)
class Augmentation:
    """What a training image may go through, each image its own random draw; evaluation images
    never are. ``--data.augment.flip true``, or in YAML ``augment: {crop_padding: 4}`` (the options
    not given keep the data module's defaults).

    Attributes:
        flip: mirror left-right with probability 1/2 (torchvision's ``RandomHorizontalFlip``). Only
            for images whose class survives a mirror (a ship, a shoe), never for digits or text.
        crop_padding: pad by this many black pixels per side and crop back at a random offset
            (``RandomCrop(size, padding)``); 0: off.
        crop_scale: take a random part covering this range of shares of the image's area, resized to
            the network's size (``RandomResizedCrop(size, scale)``); for images decoded from files
            (folders, chunks, Hugging Face sets); ``null``: the centre crop of evaluation images.
    """

    flip: bool = False
    crop_padding: int = 0
    crop_scale: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        if self.crop_padding < 0:
            raise ConfigError(f"augment.crop_padding must be at least 0, got {self.crop_padding}")
        low, high = self.crop_scale or (1.0, 1.0)
        if not 0 < low <= high <= 1:
            raise ConfigError(
                f"augment.crop_scale must be (low, high) with 0 < low <= high <= 1, got {self.crop_scale}"
            )

    @classmethod
    def of(cls, value: Augmentation | Mapping[str, Any]) -> Augmentation:
        """``value`` itself, or the augmentation a mapping describes (a checkpoint's record)."""
        return value if isinstance(value, Augmentation) else cls(**value)

    @property
    def draws(self) -> bool:
        """Whether anything is drawn at random."""
        return self.flip or self.crop_padding > 0 or self.crop_scale is not None

    def as_dict(self) -> dict[str, Any]:
        """Plain data, as a checkpoint records it."""
        return asdict(self)


NONE = Augmentation()
#: Training images of files: a random part of 35% to 100% of the area, wider than torchvision's
#: (0.08, 1), which suits ImageNet-scale training (small sets and fine-tuning lose too much of the
#: object there), and a flip.
FILE_AUGMENTATION = Augmentation(flip=True, crop_scale=(0.35, 1.0))


def merged_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """A data module's options as recorded before ``augment`` was one option (``flip``,
    ``crop_padding``, and ``augment: true`` for a random resized crop and flip of files), as now."""
    old = {key: options[key] for key in ("flip", "crop_padding") if key in options}
    if not old and not isinstance(options.get("augment"), bool):
        return dict(options)
    merged = {key: value for key, value in options.items() if key not in old}
    files = merged.pop("augment", None)
    augment: dict[str, Any] = {"flip": bool(old.get("flip")) or files is True}
    augment["crop_padding"] = int(old.get("crop_padding") or 0)
    if files is True:
        augment["crop_scale"] = FILE_AUGMENTATION.crop_scale
    return {**merged, "augment": augment}


#: Test-time augmentation, ``ClassifierModule(tta=...)``: ``"flip"`` averages the logits of each
#: image and its mirror; ``"crops"`` those of four shifted crops of both as well (ten views).
TTA = Literal["none", "flip", "crops"]


def tta_views(images: Tensor, tta: TTA) -> Tensor:
    """The views of a batch of evaluation ``images`` (N x C x H x W) that ``tta`` averages over, one
    batch after another: the images, their mirrors, then for ``"crops"`` each of four crops and its
    mirror. A crop is the image shifted diagonally by a sixteenth of its shorter side (2 pixels of
    CIFAR's 32), its border reflected: the translations of training's random crops, without the
    black edge that standardised images no longer have a value for."""
    views = [images] if tta == "none" else [images, images.flip(-1)]
    if tta == "crops":
        height, width = images.shape[-2:]
        shift = max(1, min(height, width) // 16)
        padded = F.pad(images, (shift, shift, shift, shift), mode="reflect")
        for top, left in ((0, 0), (0, 2 * shift), (2 * shift, 0), (2 * shift, 2 * shift)):
            crop = padded[..., top : top + height, left : left + width]
            views += [crop, crop.flip(-1)]
    return torch.cat(views)


def check_tta(tta: TTA, augment: Any, data: str) -> None:
    """Refuse ``tta`` for ``data`` (a data module's name) whose training ``augment`` does not mirror
    images: there a mirrored image is another class or none (a digit, a letter); and ``"crops"`` for
    data whose training does not crop at random either."""
    if tta == "none":
        return
    if not isinstance(augment, Augmentation) or not augment.flip:
        raise ConfigError(
            f"tta={tta}: {data} does not mirror its training images (augment.flip), so a mirrored image is "
            "not one of its kind: evaluate without tta, or train with --data.augment.flip true"
        )
    if tta == "crops" and not (augment.crop_padding or augment.crop_scale):
        raise ConfigError(
            f"tta=crops: {data} does not crop its training images at random (augment.crop_padding, "
            "augment.crop_scale), so shifted crops are not images of its kind: use tta=flip"
        )


class BatchTransform:
    """Crop (``augment.crop_padding``) and flip (``augment.flip``) each image, then standardise.
    (``augment.crop_scale`` happens earlier, as each image is decoded: ``decode``.)

    Args:
        mean: per-channel mean of the [0, 1]-scaled pixels, subtracted after augmentation.
        std: per-channel standard deviation, divided by after subtracting ``mean``.
        augment: what each image may go through; none for evaluation batches.
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float], augment: Augmentation = NONE) -> None:
        self.mean = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)
        self.crop_padding = augment.crop_padding
        self.flip = augment.flip

    def to(self, device: torch.device | str) -> BatchTransform:
        """A copy whose statistics live on ``device``: no host-to-device copy per batch."""
        moved = copy.copy(self)
        moved.mean, moved.std = self.mean.to(device), self.std.to(device)
        return moved

    def of_samples(self, images: Sequence[Tensor]) -> Tensor:
        """``self(torch.stack(images))`` for uint8 images of one shape, with the same random draws.
        Without a crop, each image is copied once into the float batch, mirrored as it goes
        (``mirrored_levels``), and standardised in place: stacking them, then selecting, flipping and
        copying back half a batch took 1.7 times as long (0.35 against 0.20 ms an image of 224 x 224,
        ``benchmarks/decoding.py``)."""
        if self.crop_padding:
            return self(torch.stack(list(images)))
        mirror = flip_choices(len(images)).tolist() if self.flip else [False] * len(images)
        return standardized_levels(mirrored_levels(images, mirror), self.mean, self.std)

    def __call__(self, images: Tensor, generator: torch.Generator | None = None) -> Tensor:
        if self.crop_padding:
            images = random_crop(images, self.crop_padding, generator)
        if self.flip:
            images = random_flip(images, generator)
        return normalize(images, self.mean, self.std)


class CollateBatch:
    """The DataLoader path's ``collate_fn``: the batch's images through ``transform``. A batch the
    data set gathered itself (``ImageTensors.__getitems__``) comes as one tensor; samples decoded one
    at a time (``decode``: uint8 views of channels-last memory) become one with
    ``BatchTransform.of_samples``."""

    def __init__(self, transform: BatchTransform) -> None:
        self.transform = transform

    def __call__(self, batch: tuple[Tensor, Tensor] | list[Any]) -> tuple[Tensor, Tensor]:
        if isinstance(batch, tuple):
            images, labels = batch
            return self.transform(images), labels
        first = batch[0][0]
        if isinstance(first, Tensor) and first.dtype == torch.uint8 and first.ndim == 3:
            images = self.transform.of_samples([image for image, _ in batch])
            return images, torch.as_tensor([int(label) for _, label in batch])
        images, labels = default_collate(batch)
        return self.transform(images), labels


def mirrored_levels(images: Sequence[Tensor], mirror: Sequence[bool]) -> Tensor:
    """uint8 ``images`` of one shape as one float batch of their grey levels (0..255, contiguous),
    each image copied once, mirrored left-right where ``mirror`` says."""
    levels = torch.empty(len(images), *images[0].shape, dtype=torch.float32)
    for target, image, flip in zip(levels, images, mirror, strict=True):
        target.copy_(image.flip(2) if flip else image)
    return levels


def random_crop(images: Tensor, padding: int, generator: torch.Generator | None = None) -> Tensor:
    """Zero-pad each image by ``padding`` per side and crop it back to its size at a random offset,
    one offset per image (as torchvision's ``RandomCrop(size, padding)``, for a whole batch)."""
    n, channels, height, width = images.shape
    padded_width = width + 2 * padding
    padded = F.pad(images, (padding, padding, padding, padding)).flatten(2)  # (N, C, pixels)
    top = torch.randint(0, 2 * padding + 1, (n, 1, 1), device=images.device, generator=generator)
    left = torch.randint(0, 2 * padding + 1, (n, 1, 1), device=images.device, generator=generator)
    rows = top + torch.arange(height, device=images.device).view(1, height, 1)
    cols = left + torch.arange(width, device=images.device).view(1, 1, width)
    # One gather of each image's window from its flattened pixels: 6x faster on the CPU than
    # indexing rows and columns separately, and one kernel on a GPU.
    pixels = (rows * padded_width + cols).view(n, 1, height * width).expand(n, channels, -1)
    return padded.gather(2, pixels).view(n, channels, height, width)


def flip_choices(
    count: int, device: torch.device | str = "cpu", generator: torch.Generator | None = None
) -> Tensor:
    """Which of ``count`` images to mirror: each with probability 1/2 (a bool tensor on ``device``)."""
    return torch.rand(count, device=device, generator=generator) < 0.5


def random_flip(images: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Mirror each image left-right with probability 1/2, one choice per image."""
    chosen = flip_choices(len(images), images.device, generator).nonzero().view(-1)
    # Only the chosen images are flipped (a `where` over two whole batches costs twice as much here).
    return images.index_copy(0, chosen, images.index_select(0, chosen).flip(3))


def normalize(images: Tensor, mean: Tensor, std: Tensor) -> Tensor:
    """Float images: uint8 scaled to [0, 1] (floats taken as already scaled), then standardised."""
    if images.dtype != torch.uint8:
        return (images.float() - mean) / std
    return standardized_levels(images.float(), mean, std)


def standardized_levels(levels: Tensor, mean: Tensor, std: Tensor) -> Tensor:
    """Float grey ``levels`` (0..255) standardised in place: (x / 255 - mean) / std as one multiply
    and one subtract."""
    return levels.mul_(1 / (255 * std)).sub_(mean / std)


class DeviceBatches:
    """Batches of one split, gathered, augmented and standardised on ``device``.

    Args:
        split: the split's images and labels.
        batch_size: images per batch.
        transform: what each batch goes through (augmentation when training, standardisation).
        sampler: the order of one epoch, as the DataLoader path's sampler gives it; ``None``: every
            sample in order.
        drop_last: drop the last partial batch (training).
        device: where the split lives and the batches are made (the Trainer's root device).
        seed: seed of the augmentation's random choices, mixed with the epoch and the rank.
    """

    def __init__(
        self,
        split: ImageTensors,
        batch_size: int,
        transform: BatchTransform,
        sampler: DistributedSampler | None = None,
        drop_last: bool = False,
        device: torch.device | str = "cpu",
        seed: int = 0,
    ) -> None:
        self.device = torch.device(device)
        self.images = split.images.to(self.device)
        self.labels = split.labels.to(self.device, torch.long)
        self.batch_size = batch_size
        self.transform = transform.to(self.device)
        self.drop_last = drop_last
        self.seed = seed
        # `sampler` and `batch_sampler` as a DataLoader names them: Lightning reads both, and calls
        # `sampler.set_epoch` at every epoch start.
        self.sampler = sampler
        self.batch_sampler = None

    def __len__(self) -> int:
        return self._batches(len(self.sampler) if self.sampler is not None else len(self.labels))

    def _batches(self, samples: int) -> int:
        return samples // self.batch_size if self.drop_last else -(-samples // self.batch_size)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        order = torch.as_tensor(list(self.sampler) if self.sampler is not None else range(len(self.labels)))
        order = order.to(self.device)
        epoch, rank = 0, 0
        if self.sampler is not None:
            epoch, rank = self.sampler.epoch, self.sampler.rank
            # Without a `set_epoch` call (a hand-written loop) the next pass is the next epoch.
            self.sampler.set_epoch(epoch + 1)
        generator = torch.Generator(self.device).manual_seed(_mix(self.seed, epoch, rank))
        # The order may be shorter than the epoch (a run resumed inside it): as many batches as it holds.
        for batch in range(self._batches(len(order))):
            index = order[batch * self.batch_size : (batch + 1) * self.batch_size]
            images = self.images.index_select(0, index)  # not `images[index]`: slower on the CPU
            yield self.transform(images, generator), self.labels.index_select(0, index)


def _mix(*numbers: int) -> int:
    """One 63-bit seed from several integers (seed, epoch, rank), distinct for distinct tuples."""
    value = 0
    for number in numbers:
        value = (value * 1_000_003 + number) % (2**63)
    return value
