"""Encoded images (the bytes of a JPEG, PNG, ... file) to uint8 tensors at the network's size.

Every data path that reads encoded images (image folders, streaming chunks, Hugging Face sets)
decodes them here, one sample at a time in the loader's workers, so the cost per image bounds the
images per second a core delivers. What it does, and why each step is the fast one measured by
``benchmarks/decoding.py``:

- PIL decodes (libjpeg-turbo for JPEG, the library behind torchvision's ``decode_jpeg`` too, whose
  image decoding torchvision 0.29 deprecates). PIL reads the header first: the format, and the
  size, checked against the pixel limit (``max_pixels``, the data modules' ``max_image_pixels``)
  before anything is decoded, so that a small file cannot claim gigabytes. Its pixels are copied once
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
requests alike (``EvaluationTransform``). A long, thin image (1 x 6000 pixels: 100 bytes of PNG)
would grow to hundreds of millions of pixels before its centre is cropped; only the part the crop
keeps is resized for it (``EvaluationImage.kept_part``), so that what an image costs is bounded by
the pixel limit and a few times the network's input, whatever its shape.

**New images to classify** (``PredictImages``, a data module's ``predict_root``) are prepared as
the data module prepares its own: a model learns the input it was trained on (its channel count,
size, pixel scale and statistics). So a new image goes through the data module's
``evaluation_transform()``: decoded in the module's colour mode, its shorter side resized and the
centre cropped to the module's ``dims`` (as the module's evaluation images are), then, a batch at a
time, scaled to [0, 1] and standardised with the module's mean and std. ``PredictImages`` lists the
files and decodes them; a loader standardises::

    transform = CIFAR10DataModule().evaluation_transform()
    images = PredictImages("photos/", transform.decode)
    batch = transform.standardize(torch.stack([pixels for pixels, _ in images]))
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset
from torchvision.datasets.folder import IMG_EXTENSIONS
from torchvision.transforms import RandomResizedCrop, v2

from lit_classifier.data.augment import BatchTransform
from lit_classifier.data.images import (
    IMAGE_FORMATS,
    MAX_IMAGE_PIXELS,
    ImageTooLarge,
    image_files,
    pixel_excess,
    readable,
    unreadable_reason,
)
from lit_classifier.errors import DataError

#: Encoded image bytes and where they came from (for messages) -> uint8 pixels at the network's size.
Decoder = Callable[[bytes, str], Tensor]


#: Evaluation images whose resized whole has at most this many times the pixels of the centre crop
#: are resized whole by torch (a 4:3 photo: 1.7 times, a 3:1 panorama: 3.9); a thinner one has only
#: the part that the crop keeps resized (``EvaluationImage.kept_part``).
WHOLE_RESIZE_LIMIT = 8


def decode(
    data: bytes, mode: str = "RGB", source: str = "an image", max_pixels: int = MAX_IMAGE_PIXELS
) -> Tensor:
    """The pixels of ``data`` as a (channels, height, width) uint8 tensor in ``mode`` ("RGB" or "L");
    a ``DataError`` naming ``source`` if they cannot be read (``ImageTooLarge`` if there are more than
    ``max_pixels``)."""
    with opened(data, source, max_pixels) as image:
        return as_tensor(converted(image, mode))


@contextmanager
def opened(data: bytes, source: str, max_pixels: int) -> Iterator[Image.Image]:
    """The image of ``data`` with only its header read, for the block to decode: refused before that
    if it has more than ``max_pixels`` pixels (``ImageTooLarge``); bytes that are no image, or whose
    pixels the block cannot decode, are a ``DataError``. Both name ``source``."""
    try:
        # Reads the header first; PIL refuses an image of over twice its own limit (a decompression bomb).
        image = Image.open(io.BytesIO(data), formats=IMAGE_FORMATS)
    except Image.DecompressionBombError as error:  # no OSError
        raise ImageTooLarge(f"cannot read image {source}: {unreadable_reason(error, data)}") from error
    except (OSError, SyntaxError, ValueError) as error:  # OSError: an unidentified file
        raise DataError(f"cannot read image {source}: {unreadable_reason(error, data)}") from error
    with image:
        # PIL only warns between its limit and twice that, and would decode.
        too_large = pixel_excess(image.size, max_pixels)
        if too_large is not None:
            raise ImageTooLarge(f"cannot read image {source}: {too_large}")
        try:
            yield image
        except (OSError, SyntaxError, ValueError) as error:  # OSError: truncated data
            raise DataError(f"cannot read image {source}: {unreadable_reason(error, data)}") from error


def converted(image: Image.Image, mode: str) -> Image.Image:
    """``image`` in ``mode``, decoded."""
    return image if image.mode == mode else image.convert(mode)


def as_tensor(image: Image.Image) -> Tensor:
    """The pixels of a decoded ``image`` as a (channels, height, width) uint8 view of channels-last memory."""
    pixels = np.array(image)
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
        max_pixels: images of more pixels are refused before they are decoded (``ImageTooLarge``).
    """

    def __init__(
        self,
        size: int,
        scale: tuple[float, float] = (0.35, 1.0),
        ratio: tuple[float, float] = (3 / 4, 4 / 3),
        mode: str = "RGB",
        max_pixels: int = MAX_IMAGE_PIXELS,
    ) -> None:
        self.size = size
        self.scale = list(scale)
        self.ratio = list(ratio)
        self.mode = mode
        self.max_pixels = max_pixels

    def __call__(self, data: bytes, source: str = "an image") -> Tensor:
        return self.crop(decode(data, self.mode, source, self.max_pixels))

    def crop(self, pixels: Tensor) -> Tensor:
        """A random part of decoded ``pixels`` (C, H, W uint8), resized."""
        top, left, height, width = RandomResizedCrop.get_params(pixels, self.scale, self.ratio)
        return resized(pixels[:, top : top + height, left : left + width], (self.size, self.size))


class EvaluationImage:
    """How an encoded image becomes evaluation pixels: decoded in ``mode``, the shorter side resized
    to ``resize`` (antialiased) and the centre cropped to ``size``, by torchvision's v2 ``Resize``
    and ``CenterCrop`` on the uint8 tensor (0.28 ms for a 500x375 JPEG's pixels to 224, against
    0.36 ms for the same steps by hand, on one CPU thread: ``benchmarks/library_features.py``; the
    whole pipeline: ``benchmarks/decoding.py --evaluation``). An image whose resized whole would be
    more than ``WHOLE_RESIZE_LIMIT`` times the crop (a long, thin one) has only the part that the
    crop keeps resized, by PIL (``kept_part``): the same pixels to within two levels of 255 (each of
    the two passes may round a tie the other way than torch). A gray image meets a colour network
    with its one channel repeated (``channels``).

    Args:
        resize: the shorter side is resized to this ...
        size: ... and the centre cropped to this (height, width), no larger than ``resize``.
        mode: "RGB" or "L" (gray).
        channels: channels of the result (3 for a colour network fed gray images).
        max_pixels: images of more pixels are refused before they are decoded (``ImageTooLarge``).
    """

    def __init__(
        self,
        resize: int,
        size: tuple[int, int],
        mode: str = "RGB",
        channels: int | None = None,
        max_pixels: int = MAX_IMAGE_PIXELS,
    ) -> None:
        if max(size) > resize:
            raise ValueError(f"the crop {size} must fit in the resized image's shorter side {resize}")
        self.resize = resize
        self.size = size
        self.mode = mode
        self.channels = channels if channels is not None else (1 if mode == "L" else 3)
        self.max_pixels = max_pixels
        self.geometry = v2.Compose([v2.Resize(resize, antialias=True), v2.CenterCrop(list(size))])

    def __call__(self, data: bytes, source: str = "an image") -> Tensor:
        with opened(data, source, self.max_pixels) as image:
            part = self.kept_part(*image.size)
            pixels = as_tensor(
                converted(image, self.mode) if part is None else self.resized_part(image, part)
            )
        if part is None:
            pixels = self.geometry(pixels)
        return pixels if len(pixels) == self.channels else pixels.expand(self.channels, -1, -1)

    def kept_part(self, width: int, height: int) -> tuple[float, float, float, float] | None:
        """The part of a ``width`` x ``height`` image that the centre crop of the resized image keeps,
        in the image's pixel coordinates (left, top, right, bottom); ``None`` where the resized image
        has at most ``WHOLE_RESIZE_LIMIT`` times the crop's pixels, so that it is resized whole. The
        sizes are computed as torchvision's ``Resize`` and ``CenterCrop`` compute them."""
        short, long = sorted((width, height))
        resized_long = int(self.resize * long / short)
        new_width, new_height = (
            (self.resize, resized_long) if width <= height else (resized_long, self.resize)
        )
        crop_height, crop_width = self.size
        if new_width * new_height <= WHOLE_RESIZE_LIMIT * crop_width * crop_height:
            return None
        top, left = round((new_height - crop_height) / 2), round((new_width - crop_width) / 2)
        x_scale, y_scale = width / new_width, height / new_height
        return (left * x_scale, top * y_scale, (left + crop_width) * x_scale, (top + crop_height) * y_scale)

    def resized_part(self, image: Image.Image, part: tuple[float, float, float, float]) -> Image.Image:
        """``part`` of ``image`` resized to ``size`` by PIL's antialiased bilinear filter, as a resize of
        the whole image computes those pixels. The whole pixels that the filter reaches are cut out
        first, so that the part's coordinates stay small: PIL holds them as 32-bit floats."""
        left, top, right, bottom = part
        height, width = self.size
        reach_x = math.ceil(max((right - left) / width, 1.0)) + 1  # the filter's support, and rounding
        reach_y = math.ceil(max((bottom - top) / height, 1.0)) + 1
        cut_left, cut_top = max(0, math.floor(left) - reach_x), max(0, math.floor(top) - reach_y)
        cut_right = min(image.width, math.ceil(right) + reach_x)
        cut_bottom = min(image.height, math.ceil(bottom) + reach_y)
        cut = converted(image.crop((cut_left, cut_top, cut_right, cut_bottom)), self.mode)
        box = (left - cut_left, top - cut_top, right - cut_left, bottom - cut_top)
        return cut.resize((width, height), Image.Resampling.BILINEAR, box=box, reducing_gap=None)


@dataclass(frozen=True)
class EvaluationTransform:
    """How an image file becomes a data module's evaluation input, the same for its own evaluation
    splits of files, new images (``predict_root``, ``predict_images``) and served requests: each
    image ``decode``d to uint8 pixels at the network's size, then a batch of them ``standardize``d.

    Attributes:
        decode: the file's bytes and a name for messages -> uint8 pixels (``EvaluationImage``).
        standardize: a batch of such pixels -> the network's input (``augment.BatchTransform``).
        max_pixels: the most pixels ``decode`` accepts, which files are checked against before
            they are decoded (``images.readable``).
    """

    decode: Decoder
    standardize: BatchTransform
    max_pixels: int = MAX_IMAGE_PIXELS


class PredictImages(Dataset):
    """Image files to classify, sorted by path: one file, every image under a folder (any depth), or
    several of either.

    ``samples`` lists ``(path, -1)`` pairs, as an image folder lists ``(path, label)``: the
    prediction writer names each row's file from it. An item is ``(pixels, -1)``: the file through
    ``decode`` (uint8) and -1 for the unknown label, so a batch has the shape of the labelled splits'.
    Unreadable files, and images of more than ``max_pixels`` pixels, are left out, each reported in
    one logged line (``strict``: an error naming the first); a missing path or no image at all is a
    ``DataError`` naming it.
    """

    def __init__(
        self,
        source: str | Path | Sequence[str | Path],
        decode: Decoder,
        *,
        strict: bool = False,
        max_pixels: int = MAX_IMAGE_PIXELS,
    ) -> None:
        sources = [source] if isinstance(source, str | Path) else list(source)
        found = sorted(path for each in sources for path in find_images(Path(each).expanduser()))
        kept = readable(found, strict, max_pixels)
        if not kept:
            named = ", ".join(str(s) for s in sources)
            raise DataError(f"none of the {len(found)} image files under {named} can be read")
        self.samples = [(path, -1) for path in kept]
        self.decode = decode

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[Tensor, int]:
        path, label = self.samples[index]
        return self.decode(path.read_bytes(), str(path)), label


def find_images(path: Path) -> list[Path]:
    """``path`` itself if it is a file, else the image files under it; an error if there are none."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise DataError(f"{path} does not exist: give an image file or a folder of images")
    files = image_files(path)
    if not files:
        looked_for = ", ".join(IMG_EXTENSIONS)
        raise DataError(f"no images under {path} (looked for {looked_for} at any depth)")
    return files
