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
distribution of area shares and aspect ratios); evaluation images are resized so the shorter side
is ``resize`` and centre-cropped, as ``predict.ImageTransform`` prepares new images.
"""

from __future__ import annotations

import io

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor
from torchvision.transforms import RandomResizedCrop
from torchvision.transforms.v2 import functional as TF

from lit_classifier.data.images import IMAGE_FORMATS, unreadable_reason
from lit_classifier.errors import DataError


def decode(data: bytes, mode: str = "RGB", source: str = "an image") -> Tensor:
    """The pixels of ``data`` as a (channels, height, width) uint8 tensor in ``mode`` ("RGB" or "L");
    an ``DataError`` naming ``source`` if they cannot be read."""
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
        pixels = decode(data, self.mode, source)
        top, left, height, width = RandomResizedCrop.get_params(pixels, self.scale, self.ratio)
        return resized(pixels[:, top : top + height, left : left + width], (self.size, self.size))


class CenterCropDecode:
    """Evaluation images: the shorter side resized to ``resize``, the centre cropped to ``size``.

    Args:
        resize: the shorter side is resized to this ...
        size: ... and the centre ``size`` x ``size`` cropped.
        mode: "RGB" or "L" (gray).
    """

    def __init__(self, resize: int, size: int, mode: str = "RGB") -> None:
        self.resize = resize
        self.size = size
        self.mode = mode

    def __call__(self, data: bytes, source: str = "an image") -> Tensor:
        pixels = decode(data, self.mode, source)
        height, width = pixels.shape[-2:]
        short, long = sorted((height, width))
        # torchvision's Resize: the shorter side becomes `resize`, the longer one keeps the ratio.
        scaled_long = int(self.resize * long / short)
        size = (self.resize, scaled_long) if height <= width else (scaled_long, self.resize)
        return TF.center_crop(resized(pixels, size), [self.size, self.size])
