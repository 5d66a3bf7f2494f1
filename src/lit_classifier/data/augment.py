"""Training augmentation and standardisation of whole batches: what both data paths do to a batch.

A batch of stored pixels (uint8 in 0..255, or floats in [0, 1]) is cropped and flipped, each image
with its own random choice (as torchvision's ``RandomCrop(size, padding)`` and
``RandomHorizontalFlip`` would per sample; cifar10-airbench does the same in batches), then scaled
and standardised. The DataLoader path runs this in its ``collate_fn`` (``CollateBatch``), in the
loader's workers when there are any; the device-resident path (``gpu.DeviceBatches``) runs it on the
device. Cropping comes before standardising so that the padding is black, as torchvision pads.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import default_collate


class BatchTransform:
    """Crop with ``crop_padding`` (0: no crop) and flip (``flip``) each image, then standardise.

    Args:
        mean: per-channel mean of the [0, 1]-scaled pixels, subtracted after augmentation.
        std: per-channel standard deviation, divided by after subtracting ``mean``.
        crop_padding: pad each image by this many zero pixels per side and crop it back at a random
            offset.
        flip: mirror each image left-right with probability 1/2.
    """

    def __init__(
        self, mean: Sequence[float], std: Sequence[float], crop_padding: int = 0, flip: bool = False
    ) -> None:
        self.mean = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)
        self.crop_padding = crop_padding
        self.flip = flip

    def to(self, device: torch.device | str) -> BatchTransform:
        """A copy whose statistics live on ``device``: no host-to-device copy per batch."""
        moved = copy.copy(self)
        moved.mean, moved.std = self.mean.to(device), self.std.to(device)
        return moved

    def __call__(self, images: Tensor, generator: torch.Generator | None = None) -> Tensor:
        if self.crop_padding:
            images = random_crop(images, self.crop_padding, generator)
        if self.flip:
            images = random_flip(images, generator)
        return normalize(images, self.mean, self.std)


class CollateBatch:
    """The DataLoader path's ``collate_fn``: stack the samples (unless the data set gathered the
    batch itself, as ``ImageTensors.__getitems__`` does) and pass the images through ``transform``."""

    def __init__(self, transform: BatchTransform) -> None:
        self.transform = transform

    def __call__(self, batch: tuple[Tensor, Tensor] | list[Any]) -> tuple[Tensor, Tensor]:
        images, labels = batch if isinstance(batch, tuple) else stack_samples(batch)
        return self.transform(images), labels


def stack_samples(batch: list[Any]) -> tuple[Tensor, Tensor]:
    """(images, labels) of a list of samples. Decoded images (``decode``) are channels-last in memory
    (height x width x channels): stacked as such they take one plain copy instead of a transposing
    one, and the batch stays channels-last."""
    first = batch[0][0]
    if not (isinstance(first, Tensor) and first.ndim == 3 and first.permute(1, 2, 0).is_contiguous()):
        return default_collate(batch)
    images = torch.stack([image.permute(1, 2, 0) for image, _ in batch]).permute(0, 3, 1, 2)
    return images, torch.as_tensor([int(label) for _, label in batch])


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


def random_flip(images: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Mirror each image left-right with probability 1/2, one choice per image."""
    chosen = (torch.rand(len(images), device=images.device, generator=generator) < 0.5).nonzero().view(-1)
    # Only the chosen images are flipped (a `where` over two whole batches costs twice as much here).
    return images.index_copy(0, chosen, images.index_select(0, chosen).flip(3))


def normalize(images: Tensor, mean: Tensor, std: Tensor) -> Tensor:
    """Float images: uint8 scaled to [0, 1] (floats taken as already scaled), then standardised."""
    if images.dtype != torch.uint8:
        return (images.float() - mean) / std
    # (x / 255 - mean) / std as one multiply and one subtract, in place on the new float tensor.
    return images.float().mul_(1 / (255 * std)).sub_(mean / std)
