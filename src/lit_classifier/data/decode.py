"""Encoded images (the bytes of a JPEG, PNG, ... file) to uint8 tensors at the network's size.

Every data path that reads encoded images (image folders, streaming chunks, Hugging Face sets)
decodes them here, one sample at a time in the loader's workers, so the cost per image bounds the
images per second a core delivers. What it does, and why each step is the fast one measured by
``benchmarks/decoding.py``:

- PIL decodes (libjpeg-turbo for JPEG, the library behind torchvision's ``decode_jpeg`` too, whose
  image decoding torchvision 0.29 deprecates). PIL reads the header first: the format, and its
  pixel limit against decompression bombs, before anything is decoded. Its pixels are copied once
  into an array that torch shares: height x width x channels, which is channels-last memory.
- The crop is a view, copied once into a contiguous channels-last block: the layout for which
  torch has its vectorised uint8 antialiased resize.
- Everything stays uint8: flipping and standardising happen per batch (``augment.BatchTransform``).

Training crops follow torchvision's ``RandomResizedCrop`` (its own ``get_params``: the same
distribution of area shares and aspect ratios), resized by hand from the channels-last block:
torchvision's ``v2.RandomResizedCrop`` on the uint8 view took 1.5 times as long
(``benchmarks/library_features.py``). Evaluation images (``EvaluationImage``) go through
torchvision's v2 ``Resize`` and ``CenterCrop``, which were faster than the same steps by hand: one
evaluation transform for image folders, new images and served
requests alike (``EvaluationTransform``).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor
from torchvision.transforms import RandomResizedCrop, v2

from lit_classifier.data.augment import BatchTransform
from lit_classifier.data.images import IMAGE_FORMATS, unreadable_reason
from lit_classifier.errors import DataError

#: Encoded image bytes and where they came from (for messages) -> uint8 pixels at the network's size.
Decoder = Callable[[bytes, str], Tensor]


def decode(data: bytes, mode: str = "RGB", source: str = "an image") -> Tensor:
    """The pixels of ``data`` as a (channels, height, width) uint8 tensor in ``mode`` ("RGB" or "L");
    a ``DataError`` naming ``source`` if they cannot be read."""
    try:
        # Reads the header first; refuses a decompression bomb.
        with Image.open(io.BytesIO(data), formats=IMAGE_FORMATS) as image:
            pixels = np.array(image if image.mode == mode else image.convert(mode))
    # OSError: an unidentified or truncated file; DecompressionBombError is no OSError.
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise DataError(f"cannot read image {source}: {unreadable_reason(error, data)}") from error
    return torch.from_numpy(pixels.reshape(*pixels.shape[:2], -1)).permute(2, 0, 1)


def resized(pixels: Tensor, size: tuple[int, int]) -> Tensor:
    """``pixels`` (C, H, W uint8, possibly a view) resized to ``size`` with antialiasing."""
    block = pixels.unsqueeze(0).contiguous(memory_format=torch.channels_last)
    return F.interpolate(block, size=size, mode="bilinear", antialias=True, align_corners=False)[0]


class RandomResizedCropDecode:
    """Training images: a random part of the image, resized to ``size`` x ``size``.

    Args:
        size: side of the square the network sees.
        scale: range of the share of the image's area that the part covers.
        ratio: range of the part's aspect ratio (width / height), drawn log-uniformly.
        mode: "RGB" or "L" (gray).
    """

    def __init__(
        self,
        size: int,
        scale: tuple[float, float] = (0.35, 1.0),
        ratio: tuple[float, float] = (3 / 4, 4 / 3),
        mode: str = "RGB",
    ) -> None:
        self.size = size
        self.scale = list(scale)
        self.ratio = list(ratio)
        self.mode = mode

    def __call__(self, data: bytes, source: str = "an image") -> Tensor:
        return self.crop(decode(data, self.mode, source))

    def crop(self, pixels: Tensor) -> Tensor:
        """A random part of decoded ``pixels`` (C, H, W uint8), resized."""
        top, left, height, width = RandomResizedCrop.get_params(pixels, self.scale, self.ratio)
        return resized(pixels[:, top : top + height, left : left + width], (self.size, self.size))


class EvaluationImage:
    """How an encoded image becomes evaluation pixels: decoded in ``mode``, the shorter side resized
    to ``resize`` (antialiased) and the centre cropped to ``size``, by torchvision's v2 ``Resize``
    and ``CenterCrop`` on the uint8 tensor (0.28 ms for a 500x375 JPEG's pixels to 224, against
    0.36 ms for the same steps by hand, on one CPU thread: ``benchmarks/library_features.py``; the
    whole pipeline: ``benchmarks/decoding.py --evaluation``). A gray image meets a colour network
    with its one channel repeated (``channels``).

    Args:
        resize: the shorter side is resized to this ...
        size: ... and the centre cropped to this (height, width).
        mode: "RGB" or "L" (gray).
        channels: channels of the result (3 for a colour network fed gray images).
    """

    def __init__(
        self, resize: int, size: tuple[int, int], mode: str = "RGB", channels: int | None = None
    ) -> None:
        self.mode = mode
        self.channels = channels if channels is not None else (1 if mode == "L" else 3)
        self.geometry = v2.Compose([v2.Resize(resize, antialias=True), v2.CenterCrop(list(size))])

    def __call__(self, data: bytes, source: str = "an image") -> Tensor:
        pixels = self.geometry(decode(data, self.mode, source))
        return pixels if len(pixels) == self.channels else pixels.expand(self.channels, -1, -1)


@dataclass(frozen=True)
class EvaluationTransform:
    """How an image file becomes a data module's evaluation input, the same for its own evaluation
    splits of files, new images (``predict_root``, ``predict_images``) and served requests: each
    image ``decode``d to uint8 pixels at the network's size, then a batch of them ``standardize``d.

    Attributes:
        decode: the file's bytes and a name for messages -> uint8 pixels (``EvaluationImage``).
        standardize: a batch of such pixels -> the network's input (``augment.BatchTransform``).
    """

    decode: Decoder
    standardize: BatchTransform
