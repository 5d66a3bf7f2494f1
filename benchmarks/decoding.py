"""Images per second per CPU core: our image-folder (and streaming) pipeline against torchvision's.

Both pipelines read the same photo-like JPEGs (written here: smooth colour fields, edges and
grain, 500 x 375 at quality 90 by default) and produce the same training batches: decode, random
resized crop to ``--size`` (area share 0.35 to 1, aspect ratio 3/4 to 4/3, torchvision's
``get_params`` in both), horizontal flip, ImageNet standardisation, collate. torchvision's is
``datasets.ImageFolder`` with ``transforms.Compose([RandomResizedCrop, RandomHorizontalFlip,
ToTensor, Normalize])``; ours is ``ImageFolderDataModule``'s training loader (and, with litdata
installed, ``StreamingDataModule``'s over the same files converted to chunks). With
``--evaluation``, the evaluation batches instead: the shorter side resized to ``--size`` / 0.875, the
centre cropped to ``--size``, standardised (torchvision's ``Resize``, ``CenterCrop``, ``ToTensor``,
``Normalize`` on PIL images against the image folder's validation loader). One thread, no workers:
one core each. Rounds alternate the pipelines, so a change of the machine's load hits
them alike; a ratio is the median of the per-round ratios, printed with the two rates of the round
that gave it (the lower middle one for an even count), so that the three figures agree.

    python benchmarks/decoding.py                 # 256 images, 5 rounds
    python benchmarks/decoding.py --save          # ... and a table in benchmarks/results/
    python benchmarks/decoding.py --evaluation    # the evaluation batches
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch
import torchvision
from PIL import Image
from torch.utils.data import DataLoader
from torchvision import transforms

from lit_classifier import ImageFolderDataModule
from lit_classifier.data.augment import FILE_AUGMENTATION
from lit_classifier.data.base import IMAGENET_MEAN, IMAGENET_STD

RESULTS = Path(__file__).resolve().parent / "results"


def photo(rng: np.random.Generator, width: int, height: int) -> Image.Image:
    """Smooth colour gradients, a few hard-edged shapes and sensor-like grain: JPEG sizes of photos."""
    y, x = np.mgrid[0:height, 0:width] / max(width, height)
    phase = rng.uniform(0, 6, 3)
    pixels = np.stack(
        [np.sin(x * 5 + phase[0]), np.cos(y * 4 + phase[1]), np.sin((x + y) * 3 + phase[2])], -1
    )
    pixels = pixels * 70 + 120
    for _ in range(6):
        top, left = rng.integers(0, height), rng.integers(0, width)
        pixels[top : top + height // 4, left : left + width // 5] = rng.uniform(20, 235, 3)
    pixels += rng.normal(0, 8, pixels.shape)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def write_photos(root: Path, count: int, width: int, height: int) -> None:
    rng = np.random.default_rng(0)
    for index in range(count):
        folder = root / f"class_{index % 4}"
        folder.mkdir(parents=True, exist_ok=True)
        photo(rng, width, height).save(folder / f"{index:05d}.jpg", quality=90)


def torchvision_loader(root: Path, size: int, batch_size: int, evaluation: bool = False) -> DataLoader:
    geometry = (
        [transforms.Resize(round(size / 0.875)), transforms.CenterCrop(size)]
        if evaluation
        else [
            transforms.RandomResizedCrop(size, scale=FILE_AUGMENTATION.crop_scale),
            transforms.RandomHorizontalFlip(),
        ]
    )
    prepare = transforms.Compose(
        [*geometry, transforms.ToTensor(), transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD)]
    )
    folder = torchvision.datasets.ImageFolder(str(root), transform=prepare)
    train = not evaluation
    return DataLoader(folder, batch_size=batch_size, shuffle=train, drop_last=train, num_workers=0)


def epoch(loader: Iterable) -> tuple[float, int]:
    """Seconds for one pass, and images seen."""
    start, seen = time.perf_counter(), 0
    for images, _ in loader:
        seen += len(images)
    return time.perf_counter() - start, seen


def statistics_of(loader: Iterable) -> str:
    """Shape, dtype and per-channel mean and std of one more (untimed) pass's output."""
    batches = [images for images, _ in loader]
    pixels = torch.cat(batches).transpose(0, 1).flatten(1)  # (channels, every pixel)
    mean = ", ".join(f"{v:+.3f}" for v in pixels.mean(1).tolist())
    std = ", ".join(f"{v:.3f}" for v in pixels.std(1).tolist())
    kind = str(batches[0].dtype).removeprefix("torch.")
    return f"{tuple(batches[0].shape[1:])} {kind}, mean [{mean}], std [{std}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=256, help="JPEGs written and read per round")
    parser.add_argument("--width", type=int, default=500)
    parser.add_argument("--height", type=int, default=375)
    parser.add_argument("--size", type=int, default=224, help="side of the training crops")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-streaming", action="store_true", help="leave out the litdata pipeline")
    parser.add_argument("--evaluation", action="store_true", help="evaluation batches, not training's")
    parser.add_argument("--save", action="store_true", help="write the table to benchmarks/results/")
    args = parser.parse_args()
    torch.set_num_threads(1)  # one core per pipeline: what one DataLoader worker has
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch) / "photos"
        write_photos(root / "val" if args.evaluation else root, args.images, args.width, args.height)
        options = {"image_size": args.size, "batch_size": args.batch_size, "num_workers": 0}
        if args.evaluation:  # every image in root/val; a few in root/train make the folder complete
            write_photos(root / "train", 4, 32, 32)
        # Nearly every image trains; the one or few held out only make the chunks complete.
        held_out = max(0.01, 1 / args.images)
        folder = ImageFolderDataModule(str(root), val_fraction=held_out, verify=False, **options)
        folder.setup("fit")
        theirs = root / "val" if args.evaluation else root
        loaders: dict[str, Iterable] = {
            "torchvision ImageFolder + transforms": torchvision_loader(
                theirs, args.size, args.batch_size, args.evaluation
            ),
            "ImageFolderDataModule": folder.val_dataloader()
            if args.evaluation
            else folder.train_dataloader(),
        }
        if not args.no_streaming and not args.evaluation:
            from lit_classifier import StreamingDataModule
            from lit_classifier.data import optimize_data

            optimize_data(folder, str(Path(scratch) / "chunks"))
            stream = StreamingDataModule(str(Path(scratch) / "chunks"), **options)
            stream.setup("fit")
            loaders["StreamingDataModule"] = stream.train_dataloader()
        rates: dict[str, list[float]] = {name: [] for name in loaders}
        for _ in range(args.rounds + 1):  # the first round warms up
            for name, loader in loaders.items():
                seconds, seen = epoch(loader)
                rates[name].append(seen / seconds)
        outputs = {name: statistics_of(loader) for name, loader in loaders.items()}
    report(args, rates, outputs)


def report(args: argparse.Namespace, rates: dict[str, list[float]], outputs: dict[str, str]) -> None:
    baseline = "torchvision ImageFolder + transforms"
    lines = [
        "```",
        f"python benchmarks/decoding.py --images {args.images} --rounds {args.rounds}"
        + (" --evaluation" if args.evaluation else "")
        + " --save",
        "```",
        "",
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, one thread per "
        f"pipeline; torch {torch.__version__}, torchvision {torchvision.__version__}, "
        f"{datetime.date.today()}",
        f"images: {args.images} photo-like JPEGs of {args.width} x {args.height} (quality 90), "
        f"{'evaluation' if args.evaluation else 'training'} crops of {args.size}, batches of "
        f"{args.batch_size}; images/s: median of {args.rounds} rounds",
        "",
        "| pipeline | images/s per core | output: shape dtype, per-channel mean, std |",
        "|---|---|---|",
    ]
    lines += [
        f"| {name} | {statistics.median(values[1:]):.0f} | {outputs[name]} |"
        for name, values in rates.items()
    ]
    lines += [
        "",
        "| ratio | median of per-round ratios (range) | that round: images/s against torchvision's |",
        "|---|---|---|",
    ]
    theirs = rates[baseline][1:]
    for name, values in rates.items():
        if name == baseline:
            continue
        ours = values[1:]
        ratios = [mine / base for mine, base in zip(ours, theirs, strict=True)]
        middle = ratios.index(statistics.median_low(ratios))
        lines.append(
            f"| {name} / torchvision | {ratios[middle]:.2f} ({min(ratios):.2f}-{max(ratios):.2f}) "
            f"| {ours[middle]:.0f} against {theirs[middle]:.0f} |"
        )
    if not args.evaluation:
        lines += ["", "goal: ImageFolderDataModule / torchvision >= 1.5"]
    table = "\n".join(lines)
    print(table)
    if args.save:
        RESULTS.mkdir(exist_ok=True)
        what = "decoding-evaluation" if args.evaluation else "decoding"
        path = RESULTS / f"cpu-1-thread_{datetime.date.today()}_{what}.md"
        path.write_text(table + "\n")
        print(f"saved {path}")


if __name__ == "__main__":
    main()
