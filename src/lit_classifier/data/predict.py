"""New images to classify (``predict_root``), prepared as the data module prepares its own.

A model learns the input it was trained on: its channel count, size, pixel scale and statistics. So
a new image goes through the data module's ``image_transform()``: converted to the module's colour
mode, its shorter side resized and the centre cropped to the module's ``dims`` (as the module's
evaluation images are), scaled to [0, 1] (0..255 in the file) and standardised with the module's
mean and std. ``PredictImages`` lists the files and serves them through that transform::

    data = CIFAR10DataModule()
    images = PredictImages("photos/", data.image_transform())
    batch = torch.stack([image for image, _ in images])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset
from torchvision.datasets.folder import IMG_EXTENSIONS
from torchvision.transforms import v2

from lit_classifier.data.images import image_files, read_image, readable
from lit_classifier.errors import DataError


class ImageTransform:
    """A PIL image as a data module's evaluation input: a float tensor of shape (channels, *size).

    Args:
        mode: PIL mode to convert to first ("L": gray, "RGB": colour).
        channels: channels of the result; a gray image is repeated to 3 for colour networks.
        resize: the shorter side is resized to this (antialiased) ...
        size: ... and the centre cropped to this (height, width).
        mean: per-channel mean of the [0, 1]-scaled pixels.
        std: per-channel standard deviation.
    """

    def __init__(
        self,
        mode: str,
        channels: int,
        resize: int,
        size: tuple[int, int],
        mean: Sequence[float],
        std: Sequence[float],
    ) -> None:
        self.mode = mode
        self.channels = channels
        # The evaluation images' geometry: image folders use it for their val and test splits.
        self.geometry = v2.Compose(
            [v2.ToImage(), v2.Resize(resize, antialias=True), v2.CenterCrop(list(size))]
        )
        self.scale = v2.Compose([v2.ToDtype(torch.float32, scale=True), v2.Normalize(list(mean), list(std))])

    def __call__(self, image: Image.Image) -> Tensor:
        pixels = self.geometry(image.convert(self.mode))
        return self.scale(pixels if len(pixels) == self.channels else pixels.expand(self.channels, -1, -1))


class PredictImages(Dataset):
    """Image files to classify, sorted by path: one file, every image under a folder (any depth), or
    several of either.

    ``samples`` lists ``(path, -1)`` pairs, as an image folder lists ``(path, label)``: the
    prediction writer names each row's file from it. An item is ``(image, -1)``: the image through
    ``transform`` and -1 for the unknown label, so a batch has the shape of the labelled splits'.
    Unreadable files are left out, each reported in one logged line (``strict``: an error naming
    the first); a missing path or no image at all is an ``DataError`` naming it.
    """

    def __init__(
        self,
        source: str | Path | Sequence[str | Path],
        transform: Callable[[Image.Image], Tensor],
        *,
        strict: bool = False,
    ) -> None:
        sources = [source] if isinstance(source, str | Path) else list(source)
        found = sorted(path for each in sources for path in find_images(Path(each).expanduser()))
        kept = readable(found, strict)
        if not kept:
            named = ", ".join(str(s) for s in sources)
            raise DataError(f"none of the {len(found)} image files under {named} can be read")
        self.samples = [(path, -1) for path in kept]
        self.transform = transform

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[Tensor, int]:
        path, label = self.samples[index]
        return self.transform(read_image(path)), label


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
