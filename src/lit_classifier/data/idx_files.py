"""MNIST's idx files (LeCun's format, what torchvision reads after gunzipping the download), read as
data and checked against their header before anything is allocated.

An idx file is a header and bytes: two zero bytes, a type code (0x08: unsigned bytes, the only type
of the MNIST sets), the number of dimensions, each dimension as a big-endian uint32, then the values.
The header says how many bytes must follow, so a file whose header disagrees with its size (a
header claiming 10^9 images in a 50 kB file, a download cut short) is refused from its first bytes,
naming the file; so is one of another type or shape, and a labels file whose count is not the
images file's. torchvision's reader, given such a file, reads it whole and fails on an ``assert`` or
a tensor ``view`` deep in a traceback.
"""

from __future__ import annotations

import math
import os
import struct
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from lit_classifier.errors import DataError

#: The type code of unsigned bytes, in which MNIST and Fashion-MNIST store pixels and labels.
UBYTE = 0x08


def read_idx(path: Path, shape: tuple[int, ...], what: str) -> Tensor:
    """The uint8 values of the idx file at ``path``: ``(count, *shape)``, ``what`` naming one of the
    ``count`` items in messages ("image", "label")."""
    rank = 1 + len(shape)
    with path.open("rb") as file:
        header = file.read(4 + 4 * rank)
        if not header:
            raise DataError(f"{path}: the file is empty")
        if len(header) < 4 or header[:2] != b"\0\0":
            raise DataError(
                f"{path}: not an idx file (it does not begin with the idx format's two zero bytes)"
            )
        if header[2] != UBYTE or header[3] != rank:
            raise DataError(
                f"{path}: its header says {header[3]} dimension(s) of type 0x{header[2]:02x}; "
                f"an MNIST {what} file has {rank} of unsigned bytes (0x{UBYTE:02x})"
            )
        if len(header) < 4 + 4 * rank:
            raise DataError(f"{path}: the file ends inside its header ({len(header)} bytes)")
        count, *dims = struct.unpack(f">{rank}I", header[4:])
        if tuple(dims) != shape:
            found, wanted = ("x".join(map(str, each)) for each in (dims, shape))
            raise DataError(f"{path}: its {what}s are {found}; this data set's are {wanted}")
        expected, size = count * math.prod(shape), os.fstat(file.fileno()).st_size - len(header)
        if size != expected:
            raise DataError(
                f"{path}: its header promises {count} {what}(s) ({expected} bytes) but {size} bytes "
                "follow it: the file is cut short or not the one its header describes"
            )
        values = bytearray(size)  # the one allocation, of the size the file has
        file.readinto(values)
    return torch.from_numpy(np.frombuffer(values, dtype=np.uint8)).view(count, *shape)


def read_idx_pair(images_path: Path, labels_path: Path) -> tuple[Tensor, Tensor]:
    """One MNIST split: images (N, 1, 28, 28) uint8 and labels (N,) int64, from its two idx files."""
    images = read_idx(images_path, (28, 28), "image")
    labels = read_idx(labels_path, (), "label")
    if len(labels) != len(images):
        raise DataError(
            f"{labels_path} holds {len(labels)} labels but {images_path} holds {len(images)} images: "
            "the files must come from the same set, one label per image"
        )
    return images.unsqueeze(1), labels.long()
