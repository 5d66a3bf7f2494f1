"""CIFAR's "python version" files, read as data: pickles that may only rebuild numpy arrays.

The CIFAR-10 and CIFAR-100 downloads are Python pickles (``data_batch_1`` ... ``test_batch``,
``batches.meta``; ``train``, ``test``, ``meta``). ``pickle.load``, which torchvision's readers
call, runs whatever callable a pickle names, so a data folder handed to a user (or named by a
checkpoint's stored data module) would run its author's code. These files need nothing but dicts,
lists, strings, numbers and numpy arrays, so they are read with an unpickler that builds numpy's
array reconstruction and nothing else (``ALLOWED_GLOBALS``). Anything more is refused before it is
called, naming the file and the global it asked for; what the pickle holds is then checked for
the shape the readers use, so a malformed file is also one error naming it.
"""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeGuard

import numpy as np
import torch
from torch import Tensor

from lit_classifier.errors import DataError

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
