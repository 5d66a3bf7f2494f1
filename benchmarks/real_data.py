"""Accuracy on real-looking data: the command's defaults beside the hand-written recipe, same files.

For each set, in one run and one process: ``lit-classifier fit --data <DataModule> --data.data_dir D
--data.download false`` then ``lit-classifier test --ckpt_path last``, every other option at its
default; and the hand-written recipe of ``classic_loop.py`` (SGD with lr 0.05 and momentum 0.9,
cross-entropy, batches of 64, 8 epochs, no augmentation, no schedule) on the same training files,
tested on the same test files. The recipe's network is the two-conv tutorial CNN (``TutorialCNN``);
on the 8x8 digits, which it cannot take, ``classic_loop.py``'s own. The sets:

- ``digits``: scikit-learn's 1,797 handwritten 8x8 digits (real scans), ``DigitsDataModule``;
- ``mnist``: handwritten-style digits rendered into MNIST's idx files (``tests/real_looking.py``);
- ``fashion``: the rendered objects in gray 28x28, as Fashion-MNIST's idx files;
- ``cifar10``: objects rendered into CIFAR-10's python batches (coloured, lit, on textured ground).

The defaults hold ``val_fraction`` of the training files out for validation (10% for the standard
sets); the recipe trains on all of them. Each side runs once per seed (3 by default); the table
gives the mean test accuracy, its range, and the ratio of the defaults' mean to the recipe's.

    python benchmarks/real_data.py                 # every set at full size: minutes on 2 CPU cores
    python benchmarks/real_data.py --save          # the table in benchmarks/results/ too
    python benchmarks/real_data.py --sets mnist --train 1000 --test 300
    python benchmarks/real_data.py --sets cifar10 --option=--data.augment.crop_padding=4  # one option changed
    python benchmarks/real_data.py --sets cifar10 --tta flip  # each checkpoint tested with tta flip too
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import io
import os
import pickle
import statistics
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset
from torchvision import datasets

import classic_loop
from lit_classifier.command.cli import run
from lit_classifier.data.augment import TTA, check_tta
from lit_classifier.data.standard import CIFAR10, FASHION_MNIST, MNIST, StandardSet
from lit_classifier.errors import ConfigError
from lit_classifier.models import TutorialCNN

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import real_looking  # the tests' generator of real-looking files: one copy of it

#: A tta column's cell for a set whose training augmentation does not allow that tta.
NOT_ALLOWED = "- (its augmentation does not allow it)"
RESULTS = Path(__file__).resolve().parent / "results"
Splits = tuple[TensorDataset, TensorDataset]


@dataclass(frozen=True)
class RealSet:
    """A set of the table: its data module, how its files are written, how the recipe reads them."""

    label: str
    data_module: str
    write: Callable[[Path, int, int], object] | None  # (data_dir, train, test); None: nothing to write
    read: Callable[[Path], Splits]  # the recipe's training and test sets, standardised
    train: int = 4000  # training files written by default (CIFAR's: five batches of a fifth each)


def standardised(images: torch.Tensor, spec: StandardSet) -> torch.Tensor:
    """uint8 (N, C, H, W) to floats standardised with the set's statistics, as ``Normalize`` does."""
    mean, std = (torch.tensor(values).view(1, -1, 1, 1) for values in (spec.mean, spec.std))
    return (images.float() / 255 - mean) / std


def read_idx(reader: type[datasets.MNIST], spec: StandardSet) -> Callable[[Path], Splits]:
    """torchvision's reader of MNIST-format files, as a hand-written script uses it."""

    def read(data_dir: Path) -> Splits:
        def split(train: bool) -> TensorDataset:
            files = reader(str(data_dir), train=train, download=False)
            return TensorDataset(standardised(files.data.unsqueeze(1), spec), files.targets)

        return split(True), split(False)

    return read


def read_cifar10(data_dir: Path) -> Splits:
    """CIFAR-10's python batches unpickled as its web page shows (torchvision's reader would check
    the files' md5 sums against the real set's)."""

    def split(names: list[str]) -> TensorDataset:
        rows, labels = [], []
        for name in names:
            with (data_dir / CIFAR10.folder / name).open("rb") as file:
                batch = pickle.load(file, encoding="latin1")  # our own files, just written
            rows.append(np.asarray(batch["data"], dtype=np.uint8))
            labels.extend(batch["labels"])
        images = torch.from_numpy(np.concatenate(rows)).view(-1, 3, 32, 32)
        return TensorDataset(standardised(images, CIFAR10), torch.tensor(labels))

    return split([f"data_batch_{i}" for i in range(1, 6)]), split(["test_batch"])


def read_digits(data_dir: Path) -> Splits:
    """``classic_loop``'s digits: ``DigitsDataModule``'s training and test images."""
    splits = classic_loop.digits_splits()
    return splits["train"], splits["test"]


SETS = {
    "digits": RealSet("digits (scikit-learn, real)", "DigitsDataModule", None, read_digits),
    "mnist": RealSet(
        "MNIST format (rendered digits)", "MNISTDataModule", real_looking.write_rendered_mnist,
        read_idx(datasets.MNIST, MNIST),
    ),
    "fashion": RealSet(
        "Fashion-MNIST format (gray objects)", "FashionMNISTDataModule",
        real_looking.write_rendered_fashion_mnist, read_idx(datasets.FashionMNIST, FASHION_MNIST),
    ),
    "cifar10": RealSet(
        "CIFAR-10 format (rendered objects)", "CIFAR10DataModule", real_looking.write_rendered_cifar10,
        read_cifar10, train=5000,
    ),
}  # fmt: skip


def defaults_accuracy(
    real: RealSet,
    data_dir: Path,
    epochs: int,
    seed: int = 0,
    options: tuple[str, ...] = (),
    ttas: tuple[TTA, ...] = (),
) -> tuple[float, int, dict[str, float]]:
    """Test accuracy of ``fit`` (with ``options``, if any) then ``test --ckpt_path last`` with the
    defaults (the checkpoint brings its data module), the number of images ``fit`` trained on, and
    the test accuracy of the same checkpoint with each of ``ttas`` that its data allows
    (``--model.tta``). In a fresh folder, the commands' output kept back. ``seed`` is
    ``seed_everything``'s (0 by default)."""
    data = [f"--data={real.data_module}"]
    if real.write is not None:
        data += [f"--data.data_dir={data_dir}", "--data.download=false"]
    changed = [f"--trainer.max_epochs={epochs}"] if epochs != 8 else []
    changed += [f"--seed_everything={seed}"] if seed else []
    with tempfile.TemporaryDirectory() as folder, contextlib.chdir(folder):
        with contextlib.redirect_stdout(io.StringIO()):
            fit = run(["fit", *data, *changed, *options])
            tested = run(["test", "--ckpt_path=last"])
            with_tta = {
                tta: run(["test", "--ckpt_path=last", f"--model.tta={tta}"]).trainer.callback_metrics[
                    "test_acc"
                ]
                for tta in ttas
                if allows(tta, fit.datamodule)
            }
        accuracy = float(tested.trainer.callback_metrics["test_acc"])
        return accuracy, len(fit.datamodule.train_set), {tta: float(acc) for tta, acc in with_tta.items()}


def allows(tta: TTA, datamodule: object) -> bool:
    """Whether the training augmentation of ``datamodule`` allows ``tta``."""
    try:
        check_tta(tta, getattr(datamodule, "augment", None), type(datamodule).__name__)
    except ConfigError:
        return False
    return True


def recipe_accuracy(real: RealSet, data_dir: Path, epochs: int, seed: int = 0) -> tuple[float, int]:
    """Test accuracy of the hand-written recipe on the same files, and its training image count."""
    train, test = real.read(data_dir)
    torch.manual_seed(seed)
    network = classic_loop.small_cnn() if real.data_module == "DigitsDataModule" else TutorialCNN()
    network(train[:1][0])  # materialise the lazy first convolution before the optimizer sees it
    shuffle = torch.Generator().manual_seed(seed)
    train_loader = DataLoader(train, batch_size=64, shuffle=True, generator=shuffle)
    test_loader = DataLoader(test, batch_size=256)
    classic_loop.train_model(network, train_loader, test_loader, epochs=epochs, lr=0.05, verbose=False)
    return classic_loop.evaluate(network, test_loader)[1], len(train)


def spread(accuracies: list[float]) -> str:
    """The mean, and the range when there is more than one run."""
    mean = statistics.mean(accuracies)
    return f"{mean:.3f}" + (f" ({min(accuracies):.3f}-{max(accuracies):.3f})" if len(accuracies) > 1 else "")


def compare(
    names: list[str],
    train: int | None,
    test: int,
    epochs: int,
    seeds: int,
    options: tuple[str, ...] = (),
    ttas: tuple[TTA, ...] = (),
) -> list[str]:
    """The table's rows: each set written (in a temporary folder), then both runs on its files, once
    per seed (the defaults' ``seed_everything``, the recipe's ``torch.manual_seed``)."""
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for name in names:
            real, data_dir = SETS[name], Path(folder) / name
            if real.write is not None:
                real.write(data_dir, train or real.train, test)
            ours = [defaults_accuracy(real, data_dir, epochs, seed, options, ttas) for seed in range(seeds)]
            hand = [recipe_accuracy(real, data_dir, epochs, seed) for seed in range(seeds)]
            ours_acc, hand_acc = [acc for acc, *_ in ours], [acc for acc, _ in hand]
            augmented = [[run[2][tta] for run in ours if tta in run[2]] for tta in ttas]
            tested = len(real.read(data_dir)[1])
            hand_mean = statistics.mean(hand_acc)
            ratio = f"{statistics.mean(ours_acc) / hand_mean:.2f}x" if hand_mean else "-"
            rows.append(
                f"| {real.label} | `{real.data_module}` | {ours[0][1]:,} ({hand[0][1]:,}) / {tested:,} | "
                f"{spread(ours_acc)} | {spread(hand_acc)} | {ratio} |"
                + "".join(
                    f" {spread(accs) if accs else '- (its augmentation does not allow it)'} |"
                    for accs in augmented
                )
            )
            print(f"{name} done", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sets", nargs="+", choices=list(SETS), default=list(SETS))
    parser.add_argument(
        "--train", type=int, default=None, help="training files of each rendered set (4,000; CIFAR's 5,000)"
    )
    parser.add_argument("--test", type=int, default=1000, help="test files of each rendered set")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--seeds", type=int, default=3, help="runs of each side per set, seeds 0, 1, ...")
    parser.add_argument(
        "--option", action="append", default=[], help="an option of fit, instead of its default (repeatable)"
    )
    parser.add_argument(
        "--tta", nargs="+", choices=["flip", "crops"], default=[], help="also test with these --model.tta"
    )
    parser.add_argument("--save", action="store_true", help="write the table to benchmarks/results/")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    options, ttas = tuple(args.option), tuple(args.tta)
    rows = compare(args.sets, args.train, args.test, args.epochs, args.seeds, options, ttas)
    command = " ".join(["python benchmarks/real_data.py", *sys.argv[1:]])
    text = "\n".join(
        [
            f"CPU, {torch.get_num_threads()} threads, torch {torch.__version__}, lightning {L.__version__}; "
            f"{args.epochs} epochs, {args.seeds} seeds; load average {load:.2f} before, "
            f"{os.getloadavg()[0]:.2f} after; fit's options: {' '.join(args.option) or 'the defaults'}",
            f"`{command}`",
            "",
            "| data set | data module | training images: defaults (recipe) / test images "
            "| defaults' test acc: mean (range) | recipe's test acc | ratio of the means |"
            + "".join(f" defaults with --model.tta {tta} |" for tta in args.tta),
            "|---|---|---|---|---|---|" + "---|" * len(args.tta),
            *rows,
        ]
    )
    print(text)
    if args.save:
        RESULTS.mkdir(exist_ok=True)
        kind = "real-data-tta" if args.tta else "real-data"
        path = RESULTS / f"cpu-{torch.get_num_threads()}-threads_{datetime.date.today()}_{kind}.md"
        path.write_text(f"# Accuracy on real-looking data: defaults and the hand-written recipe\n\n{text}\n")
        print(f"saved {path}")


if __name__ == "__main__":
    main()
