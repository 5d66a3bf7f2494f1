"""Image files read from disk: listing, checking and opening, for class folders and new images alike.

Every file is checked once before it is used (in threads), so an unreadable, truncated or oversized
file is found before training or predicting starts: skipped and reported once by default, or an
error naming it with ``strict``. The check keeps memory bounded whatever the files hold: PIL reads
the header first and refuses an image over twice ``PIL.Image.MAX_IMAGE_PIXELS`` (a decompression
bomb) before decoding anything; a PNG is checked with PIL's ``verify`` (the chunks and their
checksums, no pixels decoded); a JPEG is decoded at reduced scale (``draft``); other formats are
decoded in full, which the header's pixel limit bounds.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from PIL import Image
from torchvision.datasets.folder import IMG_EXTENSIONS

from lit_classifier.errors import InputError

#: What a file may be decoded as, whatever its name or bytes say: the formats of torchvision's image
#: extensions (``IMG_EXTENSIONS``; PIL's JPEG reader also opens cameras' multi-picture JPEGs).
#: Otherwise PIL tries every plugin it has, EPS among them, which hands the file to Ghostscript.
IMAGE_FORMATS = ("JPEG", "PNG", "BMP", "PPM", "TIFF", "WEBP")


class ImageFolderError(InputError, ValueError):
    """A folder or image file that cannot give images: none there, no classes, or an unreadable file."""


class UnreadableImageWarning(UserWarning):
    """An image file that cannot be read was left out."""


def image_files(folder: Path) -> list[Path]:
    """Every image file under ``folder`` (any depth, hidden folders included), sorted by path."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMG_EXTENSIONS)


def read_image(path: Path) -> Image.Image:
    """The decoded image at ``path``; an ``ImageFolderError`` naming it if it cannot be read."""
    try:
        with Image.open(path, formats=IMAGE_FORMATS) as image:
            image.load()
            return image
    # OSError: PIL's UnidentifiedImageError and "image file is truncated"; DecompressionBombError is
    # no OSError.
    except (OSError, Image.DecompressionBombError) as error:
        raise ImageFolderError(f"cannot read image {path}: {error}") from error


def decode_problem(path: Path) -> str | None:
    """Why ``path`` cannot be read as an image, or ``None`` if it can (see the module docstring)."""
    try:
        # Reads the header first; raises DecompressionBombError.
        with Image.open(path, formats=IMAGE_FORMATS) as image:
            if image.format == "PNG":
                image.verify()
            else:
                image.draft("RGB", (1, 1))  # JPEG: the smallest scale that still reads every block
                image.load()
    except Image.DecompressionBombError as error:
        return f"{error} (PIL.Image.MAX_IMAGE_PIXELS sets the limit)"
    except (OSError, SyntaxError, ValueError) as error:  # what PIL raises for bad or cut files
        return str(error) or type(error).__name__
    return None


def readable(paths: Sequence[Path], strict: bool) -> list[Path]:
    """The paths that hold a readable image; each other one is reported once (``strict``: an error)."""
    with ThreadPoolExecutor(max_workers=8) as pool:  # PIL decodes without holding the GIL
        problems = list(pool.map(decode_problem, paths))
    kept = []
    for path, problem in zip(paths, problems, strict=True):
        if problem is None:
            kept.append(path)
        elif strict:
            raise ImageFolderError(f"cannot read image {path}: {problem} (strict: false skips it)")
        else:
            message = f"skipping unreadable image {path}: {problem}"
            warnings.warn(message, UnreadableImageWarning, stacklevel=3)
    return kept
