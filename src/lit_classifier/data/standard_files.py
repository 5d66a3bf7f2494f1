"""The standard sets' own files, read as data and checked before anything is allocated or called:
MNIST's idx files and CIFAR's pickled batches, as torchvision downloads them. torchvision's own
readers trust both.

**MNIST and Fashion-MNIST** (``read_idx_pair``): an idx file (LeCun's format, what torchvision reads
after gunzipping the download) is a header and bytes: two zero bytes, a type code (0x08: unsigned
bytes, the only type of the MNIST sets), the number of dimensions, each dimension as a big-endian
uint32, then the values. The header says how many bytes must follow, so a file whose header
disagrees with its size (a header claiming 10^9 images in a 50 kB file, a download cut short) is
refused from its first bytes, naming the file; so is one of another type or shape, and a labels
file whose count is not the images file's. torchvision's reader, given such a file, reads it whole
and fails on an ``assert`` or a tensor ``view`` deep in a traceback.

**CIFAR-10 and CIFAR-100** (``read_batches``, ``read_class_names``): the "python version" files are
pickles (``data_batch_1`` ... ``test_batch``, ``batches.meta``; ``train``, ``test``, ``meta``).
``pickle.load``, which torchvision's readers call, runs whatever callable a pickle names, so a data
folder handed to a user (or named by a checkpoint's stored data module) would run its author's
code. These files need nothing but dicts, lists, strings, numbers and numpy arrays, so they are
read with an unpickler that builds numpy's array reconstruction and nothing else
(``ALLOWED_GLOBALS``). Anything more is refused before it is called, naming the file and the global
it asked for; what the pickle holds is then checked for the shape the readers use, so a malformed
file is also one error naming it.
"""

from __future__ import annotations

import math
import os
import pickle
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeGuard

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


#: What numpy's own pickles of an array name: its reconstruction function (under numpy 1's and
#: numpy 2's module names), the array and dtype classes, and ``_codecs.encode``, with which
#: protocol 2 writes bytes. None of them runs anything but numpy's array construction.
ALLOWED_GLOBALS = frozenset(
    {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),
    }
)


class _DataUnpickler(pickle.Unpickler):
    """An unpickler that resolves only ``ALLOWED_GLOBALS`` (``persistent_load`` stays refused)."""

    def __init__(self, file: Any, source: Path) -> None:
        super().__init__(file, encoding="latin1")  # the files were written by Python 2's cPickle
        self.source = source

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in ALLOWED_GLOBALS:
            raise DataError(
                f"{self.source}: refused to read it, its pickle asks for {module}.{name}, which a CIFAR "
                "batch never needs (it would run code); the file is not from the CIFAR download"
            )
        if module == "numpy.core.multiarray":  # numpy 2 keeps numpy 1's name as a deprecated alias
            module = "numpy._core.multiarray" if hasattr(np, "_core") else module
        return super().find_class(module, name)


def load_data_pickle(path: Path) -> dict[str, Any]:
    """The dict pickled in ``path``, built from plain data and numpy arrays only."""
    try:
        with path.open("rb") as file:
            content = _DataUnpickler(file, path).load()
    except DataError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, IndexError, KeyError) as error:
        raise DataError(f"{path}: not a readable CIFAR batch ({error or type(error).__name__})") from None
    if not isinstance(content, dict):
        raise DataError(f"{path}: not a CIFAR batch (it holds a {type(content).__name__}, not a dict)")
    return content


def read_batches(folder: Path, names: Sequence[str], label_key: str) -> tuple[Tensor, Tensor]:
    """The batches ``names`` under ``folder``, concatenated, as images (N, 3, 32, 32) uint8 and labels
    (N,) int64: rows of 3072 bytes (red, green, blue planes of 32x32) and the labels under
    ``label_key`` (``labels``; CIFAR-100: ``fine_labels``)."""
    images, labels = [], []
    for name in names:
        path = folder / name
        batch = load_data_pickle(path)
        data, batch_labels = batch.get("data"), batch.get(label_key)
        if not _pixel_rows(data):
            described = (
                f"a {data.dtype} array of shape {data.shape}" if isinstance(data, np.ndarray) else data
            )
            raise DataError(
                f"{path}: its 'data' must be a uint8 array of rows of 3072 pixels, not {_short(described)}"
            )
        if not _ints(batch_labels) or len(batch_labels) != len(data):
            raise DataError(
                f"{path}: its {label_key!r} must be a list of {len(data)} integers, one per row of 'data'"
            )
        images.append(data)
        labels.extend(batch_labels)
    pixels = torch.from_numpy(np.concatenate(images).reshape(-1, 3, 32, 32))
    return pixels, torch.tensor(labels, dtype=torch.long)


def read_class_names(path: Path, key: str) -> list[str]:
    """The class names stored under ``key`` of the meta file at ``path``."""
    names = load_data_pickle(path).get(key)
    if not isinstance(names, list) or not names or not all(isinstance(name, str) for name in names):
        raise DataError(f"{path}: its {key!r} must be a list of class names (strings)")
    return names


def _pixel_rows(data: Any) -> TypeGuard[np.ndarray]:
    return (
        isinstance(data, np.ndarray) and data.dtype == np.uint8 and data.ndim == 2 and data.shape[1] == 3072
    )


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else f"{type(value).__name__} {value!r}"
    return text if len(text) <= 80 else f"{text[:77]}..."


def _ints(values: Any) -> TypeGuard[list[int]]:
    return isinstance(values, list) and all(isinstance(v, int) and not isinstance(v, bool) for v in values)
