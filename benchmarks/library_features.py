"""Library features against the hand-written pieces they replaced (or did not), in one run.

Each row times a library feature beside the hand-written code that did, or still does, the same
work, on the same inputs, on the CPU, one thread; rounds alternate which side goes first, and a ratio
(library over hand-written: above 1, the library is slower) is the median of the per-round ratios,
printed with its range and the two times of the round that gave it.

- **evaluation image**: a decoded 500 x 375 photo's pixels, the shorter side resized to 256 and the
  centre cropped to 224: torchvision's v2 ``Resize`` + ``CenterCrop`` on the uint8 tensor (what
  ``data.decode.EvaluationImage`` does) against the same steps by hand (torch's antialiased
  ``interpolate`` on a channels-last copy, the removed ``CenterCropDecode``);
- **training crop**: a random resized crop to 224 of the same pixels: torchvision's
  ``v2.RandomResizedCrop`` against ``data.decode.RandomResizedCropDecode``'s resize of the crop
  (kept: the library's took longer);
- **ONNX export**: ``SmallCNN`` on digits' shape through ``LightningModule.to_onnx(dynamo=True)``
  (what ``export_onnx`` does) against the removed path: a ``torch.export`` program given to
  ``torch.onnx.export``;
- **split**: a seeded split of 50,000 indices by ``torch.utils.data.random_split`` against
  ``data.splits.random_split_indices`` (``randperm`` and ``split``): the same indices (kept: the
  library's took longer).

torchmetrics' metrics against ours are timed by ``benchmarks/metrics.py``; image pipelines as a
whole by ``benchmarks/decoding.py`` (``--evaluation`` for evaluation batches).

    python benchmarks/library_features.py            # 5 rounds
    python benchmarks/library_features.py --quick    # 1 round, fewer repeats: a smoke run
    python benchmarks/library_features.py --only ONNX split   # rows by their first word
"""

from __future__ import annotations

import argparse
import copy
import datetime
import io
import os
import platform
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import cast

import numpy as np
import torch
import torchvision
from PIL import Image
from torch.export import Dim
from torch.utils.data import Dataset, random_split
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as TF

from lit_classifier import ClassifierModule
from lit_classifier.data.decode import EvaluationImage, RandomResizedCropDecode, decode, resized
from lit_classifier.data.splits import random_split_indices
from lit_classifier.export import export_onnx
from lit_classifier.models import SmallCNN

Timed = Callable[[], object]


def photo_bytes() -> bytes:
    """A 500 x 375 JPEG of smooth colour and grain, as a photo compresses."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:375, 0:500] / 500
    pixels = np.stack([np.sin(x * 5), np.cos(y * 4), np.sin((x + y) * 3)], -1) * 70 + 120
    pixels += rng.normal(0, 8, pixels.shape)
    buffer = io.BytesIO()
    Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def hand_evaluation(pixels: torch.Tensor) -> torch.Tensor:
    """The removed evaluation steps: the shorter side to 256 by torch's resize, the centre 224."""
    height, width = pixels.shape[-2:]
    short, long = sorted((height, width))
    scaled_long = int(256 * long / short)
    size = (256, scaled_long) if height <= width else (scaled_long, 256)
    return TF.center_crop(resized(pixels, size), [224, 224])


def torch_export_then_onnx(module: ClassifierModule, path: Path) -> None:
    """The removed ONNX path: a ``torch.export`` program of the network, given to ``torch.onnx.export``."""
    network = copy.deepcopy(module.model).cpu().eval()
    example = torch.zeros(2, 1, 8, 8)
    with torch.no_grad():
        network(example)
        program = torch.export.export(network, (example,), dynamic_shapes=({0: Dim("batch")},))
    torch.onnx.export(
        program, (example,), str(path), input_names=["images"], output_names=["logits"], dynamo=True,
        external_data=False, verbose=False,
    )  # fmt: skip


def library_split(size: int, fraction: float, seed: int) -> list[torch.Tensor]:
    """``random_split``'s parts of ``range(size)`` as index tensors."""
    held_out = round(size * fraction)
    numbers = cast("Dataset[int]", range(size))
    parts = random_split(numbers, [size - held_out, held_out], torch.Generator().manual_seed(seed))
    return [torch.as_tensor(part.indices) for part in parts]


def rows(scratch: Path) -> dict[str, tuple[str, Timed, str, Timed, int]]:
    """Each row: (library feature, its call, hand-written piece, its call, calls per round)."""
    data = photo_bytes()
    pixels = decode(data)
    evaluation = EvaluationImage(256, (224, 224))
    v2_crop = v2.RandomResizedCrop(224, scale=(0.35, 1.0), antialias=True)
    hand_crop = RandomResizedCropDecode(224, scale=(0.35, 1.0))
    module = ClassifierModule(SmallCNN(), num_classes=10, input_shape=(1, 8, 8))
    return {
        "evaluation image": (
            "v2 Resize + CenterCrop", lambda: evaluation.geometry(pixels),
            "interpolate + centre crop", lambda: hand_evaluation(pixels), 100,
        ),
        "training crop": (
            "v2 RandomResizedCrop", lambda: v2_crop(pixels),
            "RandomResizedCropDecode.crop", lambda: hand_crop.crop(pixels), 100,
        ),
        "ONNX export": (
            "LightningModule.to_onnx", lambda: export_onnx(module, scratch / "a.onnx"),
            "torch.export + torch.onnx.export", lambda: torch_export_then_onnx(module, scratch / "b.onnx"), 1,
        ),
        "split of 50,000": (
            "random_split", lambda: library_split(50_000, 0.1, 0),
            "randperm + split", lambda: random_split_indices(50_000, (0.1,), seed=0), 20,
        ),
    }  # fmt: skip


def seconds_per_call(call: Timed, repeats: int) -> float:
    start = time.perf_counter()
    for _ in range(repeats):
        call()
    return (time.perf_counter() - start) / repeats


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="one round, few repeats: a smoke run")
    parser.add_argument("--only", nargs="+", metavar="WORK", help="these rows alone, e.g. --only split")
    args = parser.parse_args(argv)
    rounds, scale = (1, 0.1) if args.quick else (args.rounds, 1.0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with tempfile.TemporaryDirectory() as scratch, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cases = rows(Path(scratch))
            chosen = {w: case for w, case in cases.items() if not args.only or w.split()[0] in args.only}
            table = measure(chosen, rounds, scale)
    finally:
        torch.set_num_threads(threads)
    header = (
        f"machine: {platform.machine()}, {os.cpu_count()} cores, one thread; torch {torch.__version__}, "
        f"torchvision {torchvision.__version__}, {datetime.date.today()}; time per call: median of "
        f"{rounds} rounds after a warm-up"
    )
    text = "\n".join([header, "", *table])
    print(text)
    return text


def measure(cases: dict[str, tuple[str, Timed, str, Timed, int]], rounds: int, scale: float) -> list[str]:
    lines = [
        "| work | library feature | ms | hand-written | ms | library / hand-written (range) | that round |",
        "|---|---|---|---|---|---|---|",
    ]
    for work, (library, ours, hand, theirs, repeats) in cases.items():
        repeats = max(1, round(repeats * scale))
        ours(), theirs()  # warm-up
        times: list[tuple[float, float]] = []
        for round_number in range(rounds):  # which side goes first alternates: neither gets the warm caches
            if round_number % 2:
                theirs_first = seconds_per_call(theirs, repeats)
                times.append((seconds_per_call(ours, repeats), theirs_first))
            else:
                times.append((seconds_per_call(ours, repeats), seconds_per_call(theirs, repeats)))
        ratios = [mine / base for mine, base in times]
        middle = ratios.index(statistics.median_low(ratios))
        mine, base = (statistics.median(side) * 1000 for side in zip(*times, strict=True))
        lines.append(
            f"| {work} | {library} | {mine:.3f} | {hand} | {base:.3f} | {ratios[middle]:.2f} "
            f"({min(ratios):.2f}-{max(ratios):.2f}) | {times[middle][0] * 1000:.3f} against "
            f"{times[middle][1] * 1000:.3f} ms |"
        )
    return lines


if __name__ == "__main__":
    main()
