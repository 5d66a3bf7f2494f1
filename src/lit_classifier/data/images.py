"""Image files read from disk: listing, checking and opening, for class folders and new images alike.

Every file is checked once before it is used (in threads), so an unreadable, truncated or oversized
file is found before training or predicting starts: skipped and reported once by default, or an
error naming it with ``strict``. The check keeps memory bounded whatever the files hold: PIL reads
the header first, and an image of more pixels than the data module's ``max_image_pixels``
(``MAX_IMAGE_PIXELS`` by default) is refused from it before anything is decoded (PIL itself refuses
one over twice ``PIL.Image.MAX_IMAGE_PIXELS``, a decompression bomb, whatever the option says); a
PNG is checked with PIL's ``verify`` (the chunks and their checksums, no pixels decoded); a JPEG is
decoded at reduced scale (``draft``); other formats are decoded in full, which the pixel limit bounds.

A skipped file is reported as one logged line, its path and why (``unreadable_reason``): PIL's own
words can mislead ("Truncated File Read" for random bytes after a JPEG marker), and a Python warning
would also print a line of this package's source.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

from PIL import Image
from torchvision.datasets.folder import IMG_EXTENSIONS

from lit_classifier.errors import DataError

log = logging.getLogger(__name__)

#: What a file may be decoded as, whatever its name or bytes say: the formats of torchvision's image
#: extensions (``IMG_EXTENSIONS``; PIL's JPEG reader also opens cameras' multi-picture JPEGs).
#: Otherwise PIL tries every plugin it has, EPS among them, which hands the file to Ghostscript.
IMAGE_FORMATS = ("JPEG", "PNG", "BMP", "PPM", "TIFF", "WEBP")

#: The most pixels (width x height) an image may have by default: Pillow's own default limit
#: (``PIL.Image.MAX_IMAGE_PIXELS``, 1024**3 // 4 // 3, a quarter GiB of 24-bit pixels), over which
#: Pillow only warns and decodes anyway: the pixels of a 17 kB PNG of 12000 x 12000 take 432 MB.
MAX_IMAGE_PIXELS = 89_478_485


class ImageTooLarge(DataError):
    """An image of more pixels than the limit, refused from its header before it is decoded."""


def image_files(folder: Path) -> list[Path]:
    """Every image file under ``folder`` (any depth, hidden folders included), sorted by path."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMG_EXTENSIONS)


def decode_problem(path: Path, max_pixels: int = MAX_IMAGE_PIXELS) -> str | None:
    """Why ``path`` cannot be read as an image of at most ``max_pixels`` pixels, or ``None`` if it can
    (see the module docstring)."""
    try:
        # Reads the header first; raises DecompressionBombError.
        with Image.open(path, formats=IMAGE_FORMATS) as image:
            too_large = pixel_excess(image.size, max_pixels)
            if too_large is not None:
                return too_large
            if image.format == "PNG":
                image.verify()
            else:
                image.draft("RGB", (1, 1))  # JPEG: the smallest scale that still reads every block
                image.load()
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        return unreadable_reason(error, path)  # what PIL raises for bad or cut files, and for bombs
    return None


def pixel_excess(size: tuple[int, int], max_pixels: int) -> str | None:
    """Why an image of ``size`` (width, height) is refused, or ``None`` if it has at most
    ``max_pixels`` pixels."""
    width, height = size
    pixels = width * height
    if pixels <= max_pixels:
        return None
    return f"it is {width} x {height} = {pixels} pixels, over the limit of {max_pixels} (max_image_pixels)"


def unreadable_reason(error: BaseException, source: Path | bytes) -> str:
    """Why PIL could not read an image, in words that are true of the file (``source``: its path or
    its bytes): not an image at all, a damaged header, damaged or cut-short data, too many pixels."""
    if isinstance(error, Image.DecompressionBombError):
        return f"{error} (PIL.Image.MAX_IMAGE_PIXELS sets the limit)"
    kind = image_format(source)
    if kind is None and is_empty(source):
        return "the file is empty (0 bytes)"
    if kind is None:
        return f"not an image file: it begins like none of {', '.join(IMAGE_FORMATS)}"
    if isinstance(error, Image.UnidentifiedImageError):  # the format's signature, then no header
        return f"its {kind} header is damaged"
    said = str(error) or type(error).__name__
    # PIL's words ("Truncated File Read", "image file is truncated") when a length in the file points
    # past its end: a file cut short, or bytes that are not what its first ones promised.
    if "truncated" in said.lower():
        return f"its {kind} data is damaged or cut short: the file ends where its data says more follows"
    return f"its {kind} data is damaged ({said})"


def is_empty(source: Path | bytes) -> bool:
    """Whether the file (its path or its bytes) holds nothing: an upload or a copy that failed."""
    try:
        return len(source) == 0 if isinstance(source, bytes) else source.stat().st_size == 0
    except OSError:
        return False


def image_format(source: Path | bytes) -> str | None:
    """The format (of ``IMAGE_FORMATS``) whose signature the file begins with, as PIL tells them."""
    if isinstance(source, bytes):
        head = source[:64]
    else:
        try:
            with source.open("rb") as file:
                head = file.read(64)
        except OSError:
            return None
    Image.init()
    for name in IMAGE_FORMATS:
        accept = Image.OPEN[name][1]
        if accept is not None and accept(head):
            return name
    return None


def readable(paths: Sequence[Path], strict: bool, max_pixels: int = MAX_IMAGE_PIXELS) -> list[Path]:
    """The paths that hold a readable image of at most ``max_pixels`` pixels; each other one is
    reported once (``strict``: an error)."""
    with ThreadPoolExecutor(max_workers=8) as pool:  # PIL decodes without holding the GIL
        problems = list(pool.map(partial(decode_problem, max_pixels=max_pixels), paths))
    kept = []
    for path, problem in zip(paths, problems, strict=True):
        if problem is None:
            kept.append(path)
        elif strict:
            raise DataError(f"cannot read image {path}: {problem} (strict: false skips it)")
        else:
            log.warning("skipping unreadable image %s: %s", path, problem)
    return kept
