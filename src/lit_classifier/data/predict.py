"""New images to classify (``predict_root``), prepared as the data module prepares its own.

A model learns the input it was trained on: its channel count, size, pixel scale and statistics. So
a new image goes through the data module's ``evaluation_transform()``: decoded in the module's
colour mode, its shorter side resized and the centre cropped to the module's ``dims`` (as the
module's evaluation images are), then, a batch at a time, scaled to [0, 1] and standardised with the
module's mean and std. ``PredictImages`` lists the files and decodes them; a loader standardises::

    transform = CIFAR10DataModule().evaluation_transform()
    images = PredictImages("photos/", transform.decode)
    batch = transform.standardize(torch.stack([pixels for pixels, _ in images]))
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from torch import Tensor
from torch.utils.data import Dataset
from torchvision.datasets.folder import IMG_EXTENSIONS

from lit_classifier.data.decode import Decoder
from lit_classifier.data.images import MAX_IMAGE_PIXELS, image_files, readable
from lit_classifier.errors import DataError


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
