"""Tiny data sets in the real on-disk formats, written into a test's folder.

MNIST's idx files (what torchvision reads after gunzipping the download), CIFAR's python pickle
batches, a folder of PNG and JPEG images with one corrupt and one truncated file, and huge blank
PNGs written row by row without holding their pixels.
"""

from __future__ import annotations

import pickle
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image


def write_idx(path: Path, array: np.ndarray) -> None:
    """An idx file (LeCun's format): magic with the type code 0x08 (uint8) and the rank, then the
    dimensions as big-endian int32, then the bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def class_pattern_images(labels: np.ndarray, shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """Noisy uint8 images whose brightness depends on the label, so a network can learn them."""
    rng = np.random.default_rng(seed)
    base = (labels.astype(np.float64) * 20 + 30).reshape(-1, *([1] * len(shape)))
    return np.clip(base + rng.normal(0, 10, (len(labels), *shape)), 0, 255).astype(np.uint8)


def write_mnist(
    data_dir: Path, folder: str = "MNIST", train: int = 60, test: int = 20, labels_max: int = 10
) -> Path:
    """MNIST-format files for ``train`` + ``test`` 28x28 images under ``data_dir/<folder>/raw``."""
    raw = data_dir / folder / "raw"
    for prefix, count in (("train", train), ("t10k", test)):
        labels = np.arange(count) % labels_max
        write_idx(raw / f"{prefix}-images-idx3-ubyte", class_pattern_images(labels, (28, 28)))
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels)
    return raw


def _write_pickle(path: Path, content: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as file:
        pickle.dump(content, file, protocol=2)


def _cifar_rows(labels: np.ndarray) -> np.ndarray:
    """(N, 3072) uint8 rows: the red plane, then green, then blue, each 32x32 row-major."""
    return class_pattern_images(labels, (3, 32, 32)).reshape(len(labels), 3072)


def write_cifar10(data_dir: Path, per_batch: int = 10, test: int = 20) -> Path:
    """``cifar-10-batches-py``: five training batches, a test batch and ``batches.meta``."""
    batches = [
        (_cifar_rows(labels), labels) for labels in ((np.arange(per_batch) + i) % 10 for i in range(1, 6))
    ]
    labels = np.arange(test) % 10
    return write_cifar10_batches(data_dir, batches, (_cifar_rows(labels), labels))


CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def write_cifar10_batches(
    data_dir: Path,
    train: list[tuple[np.ndarray, np.ndarray]],
    test: tuple[np.ndarray, np.ndarray],
    names: tuple[str, ...] = CIFAR10_CLASSES,
) -> Path:
    """``cifar-10-batches-py`` holding the given (rows, labels) pairs: five training batches, the test
    batch and ``batches.meta``. Rows are (N, 3072) uint8, as ``_cifar_rows`` lays them out."""
    folder = data_dir / "cifar-10-batches-py"
    for i, (rows, labels) in enumerate(train, start=1):
        _write_pickle(folder / f"data_batch_{i}", {"data": rows, "labels": labels.tolist()})
    _write_pickle(folder / "test_batch", {"data": test[0], "labels": test[1].tolist()})
    _write_pickle(
        folder / "batches.meta", {"label_names": list(names), "num_cases_per_batch": len(train[0][1])}
    )
    return folder


def write_cifar100(data_dir: Path, train: int = 50, test: int = 20) -> Path:
    """``cifar-100-python``: ``train``, ``test`` (fine and coarse labels) and ``meta``."""
    folder = data_dir / "cifar-100-python"
    for name, count in (("train", train), ("test", test)):
        fine = np.arange(count) % 100
        content = {
            "data": _cifar_rows(fine % 10),
            "fine_labels": fine.tolist(),
            "coarse_labels": (fine // 5).tolist(),
        }
        _write_pickle(folder / name, content)
    meta = {
        "fine_label_names": [f"class_{i:02d}" for i in range(100)],
        "coarse_label_names": [f"super_{i}" for i in range(20)],
    }
    _write_pickle(folder / "meta", meta)
    return folder


def write_image_folder(
    root: Path, classes: tuple[str, ...] = ("cat", "dog", "fish"), per_class: int = 6
) -> Path:
    """``root/<class>/<n>.png|.jpg``: small images of varied sizes and formats, coloured by class."""
    rng = np.random.default_rng(0)
    for label, name in enumerate(classes):
        (root / name).mkdir(parents=True, exist_ok=True)
        for n in range(per_class):
            height, width = 16 + 4 * (n % 3), 20 - 2 * (n % 2)
            pixels = np.zeros((height, width, 3)) + 40
            pixels[..., label % 3] = 200
            pixels = np.clip(pixels + rng.normal(0, 20, pixels.shape), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / name / f"{n:03d}.{'png' if n % 2 else 'jpg'}")
    return root


def add_bad_images(root: Path) -> tuple[Path, Path]:
    """A corrupt file (not an image at all) and a truncated one (a JPEG cut in half)."""
    corrupt = root / "cat" / "corrupt.png"
    corrupt.write_bytes(b"this is not an image" * 10)
    whole = sorted((root / "dog").glob("*.jpg"))[0].read_bytes()
    truncated = root / "dog" / "truncated.jpg"
    truncated.write_bytes(whole[: len(whole) // 2])
    return corrupt, truncated


def write_blank_png(path: Path, width: int, height: int) -> Path:
    """A valid black 1-bit grayscale PNG of ``width`` x ``height``, compressed row block by row block:
    a 20000 x 20000 image takes a quarter of a second and a few hundred kB, never its pixels' memory."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = bytes(1 + -(-width // 8))  # filter byte 0, then 8 pixels a byte
    compressor = zlib.compressobj(9)
    pieces = []
    for start in range(0, height, 1024):
        pieces.append(compressor.compress(row * min(1024, height - start)))
    pieces.append(compressor.flush())
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1 bit, gray, no interlace
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", b"".join(pieces)) + chunk(b"IEND", b"")
    )
    return path
