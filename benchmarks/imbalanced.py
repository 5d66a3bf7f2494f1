"""Imbalanced classes: balanced accuracy with each option beside the defaults, on an image folder.

The rendered objects of the CIFAR-10 format (``tests/real_looking.py``: ten shapes, 32x32 colour)
written as an image folder: ``train/`` with ``--per-class`` images of each class but three, cut to
a tenth (the first three shapes), from which the defaults hold out a fifth for validation at the
same proportions, and a balanced ``test/``. Each option set runs ``lit-classifier fit`` then
``test --ckpt_path last`` in one process, once per seed; the table gives the mean test balanced
accuracy (the mean of the classes' recalls), the three rare classes' mean recall and the accuracy,
each with its range, and the ratio of each option's balanced accuracy to the defaults'.

The image folder's own defaults are for photographs (random resized crops of 35-100% of the area,
batches of 32 images of 224 pixels): on these 32x32 renders, 8 epochs of them stayed near chance (a
balanced accuracy of 0.13). So every run trains as the CIFAR-10 format does, flips only and batches
of 64 (``TRAINING``), for 20 epochs; "defaults" in the table means no option for imbalance.

    python benchmarks/imbalanced.py --save
    python benchmarks/imbalanced.py --per-class 60 --test 10 --epochs 1 --seeds 1   # tiny
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime
import io
import os
import statistics
import sys
import tempfile
from pathlib import Path

import lightning as L
import numpy as np
import torch
from PIL import Image

from lit_classifier.command.cli import run

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from real_looking import SHAPE_NAMES, render_objects  # the tests' renderer: one copy of it

RESULTS = Path(__file__).resolve().parent / "results"
#: The classes cut to a tenth of their images in training.
RARE = SHAPE_NAMES[:3]
#: Every run's training options: those of the CIFAR-10 format, for 32x32 renders (see above).
TRAINING = ["--data.augment={flip: true, crop_scale: null}", "--data.batch_size=64"]
#: The option sets compared, by name: the defaults first.
OPTIONS = {
    "defaults": [],
    "--model.class_weights balanced": ["--model.class_weights=balanced"],
    "--data.sampling balanced": ["--data.sampling=balanced"],
}


def write_folder(root: Path, per_class: int, test: int, seed: int = 0) -> Path:
    """``root/train/<shape>/`` (rare shapes a tenth of ``per_class``) and ``root/test/<shape>/``."""
    for split, counts in (
        ("train", {name: per_class // 10 if name in RARE else per_class for name in SHAPE_NAMES}),
        ("test", dict.fromkeys(SHAPE_NAMES, test)),
    ):
        labels = np.repeat(np.arange(len(SHAPE_NAMES)), [counts[name] for name in SHAPE_NAMES])
        images = render_objects(labels, seed=seed + (0 if split == "train" else 1))
        for index, (label, pixels) in enumerate(zip(labels, images, strict=True)):
            folder = root / split / SHAPE_NAMES[label]
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(pixels).save(folder / f"{index:05d}.png")
    return root


def scores(root: Path, options: list[str], epochs: int, seed: int) -> tuple[float, float, float]:
    """Test balanced accuracy, the rare classes' mean recall and accuracy of ``fit`` with ``options``
    then ``test --ckpt_path last``, in a fresh folder, the commands' output kept back."""
    data = ["--data=ImageFolderDataModule", f"--data.root={root}", "--data.image_size=32"]
    changed = [
        *TRAINING,
        f"--trainer.max_epochs={epochs}",
        f"--seed_everything={seed}",
        "--plots.enabled=false",
    ]
    with tempfile.TemporaryDirectory() as folder, contextlib.chdir(folder):
        with contextlib.redirect_stdout(io.StringIO()):
            run(["fit", *data, *TRAINING, *changed, *options])
            tested = run(["test", "--ckpt_path=last"])
        assert tested.trainer.log_dir is not None
        with open(Path(tested.trainer.log_dir) / "test_per_class_accuracy.csv", newline="") as file:
            recalls = {row["class"]: float(row["recall"]) for row in csv.DictReader(file)}
    metrics = tested.trainer.callback_metrics
    rare = statistics.mean(recalls[name] for name in RARE)
    return float(metrics["test_balanced_acc"]), rare, float(metrics["test_acc"])


def spread(values: list[float]) -> str:
    mean = statistics.mean(values)
    return f"{mean:.3f}" + (f" ({min(values):.3f}-{max(values):.3f})" if len(values) > 1 else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--per-class", type=int, default=500, help="training images of a common class")
    parser.add_argument("--test", type=int, default=100, help="test images of each class")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--seeds", type=int, default=3, help="runs of each option set, seeds 0, 1, ...")
    parser.add_argument("--save", action="store_true", help="write the table to benchmarks/results/")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    rows, baseline = [], 0.0
    with tempfile.TemporaryDirectory() as folder:
        root = write_folder(Path(folder) / "objects", args.per_class, args.test)
        for name, options in OPTIONS.items():
            runs = [scores(root, options, args.epochs, seed) for seed in range(args.seeds)]
            balanced, rare, accuracy = ([scored[k] for scored in runs] for k in range(3))
            baseline = baseline or statistics.mean(balanced)
            ratio = statistics.mean(balanced) / baseline
            rows.append(
                f"| {name} | {spread(balanced)} | {spread(rare)} | {spread(accuracy)} | {ratio:.2f}x |"
            )
            print(f"{name} done", flush=True)
    command = " ".join(["python benchmarks/imbalanced.py", *sys.argv[1:]])
    text = "\n".join(
        [
            f"CPU, {torch.get_num_threads()} threads, torch {torch.__version__}, lightning {L.__version__}; "
            f"{args.epochs} epochs, {args.seeds} seeds; load average {load:.2f} before, "
            f"{os.getloadavg()[0]:.2f} after; training images: {args.per_class} of 7 classes, "
            f"{args.per_class // 10} of {', '.join(RARE)}; test images: {args.test} of each class",
            f"`{command}`",
            "",
            "| fit's options | test balanced accuracy: mean (range) | rare classes' recall "
            "| test accuracy | balanced accuracy / the defaults' |",
            "|---|---|---|---|---|",
            *rows,
        ]
    )
    print(text)
    if args.save:
        RESULTS.mkdir(exist_ok=True)
        path = RESULTS / f"cpu-{torch.get_num_threads()}-threads_{datetime.date.today()}_imbalanced.md"
        path.write_text(f"# Imbalanced classes: balanced accuracy with each option\n\n{text}\n")
        print(f"saved {path}")


if __name__ == "__main__":
    main()
