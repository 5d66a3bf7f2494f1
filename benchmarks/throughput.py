"""Throughput of ClassifierModule + Trainer against hand-written PyTorch loops, in one process.

Each group is one Lightning run whose epochs alternate with epochs of hand-written loops (same
thermal, allocator and scheduler state for all); the first epoch of each is a warm-up. The table
gives each loop's median epoch images/s and peak memory; each ratio is the median over rounds of
the ratio within a round, so slow changes of the machine's load cancel out.

- parity pairs: ClassifierModule + Trainer and a hand-written loop doing the same work (same
  network and weights, batches, precision, batch size; loss and correct predictions counted every
  step on the device), for each ``--models`` x ``--data-paths`` x ``--precisions``;
- fast path (``--fast-path``): ``configs/cifar10_fast.yaml``'s settings for FastCifarNet through
  ClassifierModule + Trainer, once per ``--compile-modes``, alternated with the "classic recipe"
  (hand-written, DataLoader, fp32) and the "best eager" loop (hand-written, device-resident data,
  bf16, channels_last, fused SGD on CUDA).

    python benchmarks/throughput.py                          # CPU: digits, SmallCNN, fp32 pair
    python benchmarks/throughput.py --bare                   # ... and a bare LightningModule
    python benchmarks/throughput.py --noise-floor            # ... and the same hand loop twice
    python benchmarks/throughput.py --bare --models linear --data-paths resident   # per-step overheads
    python benchmarks/throughput.py --device cpu --dataset synthetic --quick --fast-path \\
        --compile-modes none --data-paths loader resident    # every code path, in minutes
    python benchmarks/throughput.py --device cuda --save     # GPU: everything, table saved
    python benchmarks/throughput.py --device cuda --dataset cifar10 --data-dir data
"""

from __future__ import annotations

import argparse
import datetime
import re
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback

from lit_classifier import CIFAR10DataModule, DigitsDataModule
from lit_classifier.data import ClassificationDataModule, SyntheticDataModule
from lit_classifier.data.augment import Augmentation
from throughput_configs import (
    HandLoop,
    Setup,
    batches,
    best_eager,
    classic_recipe,
    fast_path,
    lightning_run,
    network,
    parity_setups,
)

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass
class Measured:
    """Seconds and peak device memory (bytes; 0 on the CPU) of the timed epochs of one loop."""

    images: int  # per epoch
    seconds: list[float] = field(default_factory=list)
    peaks: list[int] = field(default_factory=list)

    def rate(self) -> float:
        """Median images/s."""
        return statistics.median(self.images / s for s in self.seconds)

    def peak(self) -> int:
        return max(self.peaks)


def timed(run: Callable[[], None], device: torch.device, into: Measured) -> None:
    synchronize(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    start = time.perf_counter()
    run()
    synchronize(device)
    into.seconds.append(time.perf_counter() - start)
    into.peaks.append(torch.cuda.max_memory_allocated(device) if device.type == "cuda" else 0)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Alternate(Callback):
    """Before each Lightning epoch, runs one epoch of each hand-written loop; times all of them.

    A Lightning epoch is timed from its start to the next epoch's start (or the end of training),
    so its epoch-end work (metrics computed and logged) counts, as the hand loop's final sync does.
    """

    def __init__(self, lightning: Measured, hand: dict[str, tuple[HandLoop, Measured]], device: torch.device):
        self.lightning = lightning
        self.hand = hand
        self.device = device
        self._start: float | None = None

    def _close_lightning_epoch(self) -> None:
        if self._start is not None:
            synchronize(self.device)
            self.lightning.seconds.append(time.perf_counter() - self._start)
            peak = torch.cuda.max_memory_allocated(self.device) if self.device.type == "cuda" else 0
            self.lightning.peaks.append(peak)

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._close_lightning_epoch()
        for loop, measured in self.hand.values():
            timed(loop.epoch, self.device, measured)
        synchronize(self.device)
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        self._start = time.perf_counter()

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._close_lightning_epoch()


def run_group(
    lightning_setup: Setup,
    hand_setups: dict[str, Setup],
    data: ClassificationDataModule,
    device: torch.device,
    rounds: int,
    lightning_name: str,
    bare: bool = False,
) -> dict[str, Measured]:
    """One Lightning run of ``lightning_setup`` (``bare``: with ``BareModule``) alternating with the
    hand-written ``hand_setups``: each loop's epochs, by name, round ``i`` of each side by side."""
    L.seed_everything(0, verbose=False)
    hand = {}
    for name, setup in hand_setups.items():
        loop = HandLoop(setup, network(setup, data), batches(data, setup.data_path, device), device)
        hand[name] = (loop, Measured(loop.images_per_epoch()))
    loader = batches(data, lightning_setup.data_path, device)
    lightning = Measured(sum(len(labels) for _, labels in loader))
    model = network(lightning_setup, data)
    lightning_run(
        lightning_setup, model, data, loader, device, rounds + 1, Alternate(lightning, hand, device), bare
    )
    group = {}
    for name, measured in [(lightning_name, lightning), *((n, m) for n, (_, m) in hand.items())]:
        # The first epoch of each run is a warm-up.
        group[name] = Measured(measured.images, measured.seconds[1:], measured.peaks[1:])
    return group


def paired_ratio(numerator: Measured, denominator: Measured) -> float:
    """The median over rounds of the images/s ratio within each round. A round runs each loop's
    epoch back to back, so the machine's slower drifts (other load, clock changes) cancel out."""
    pairs = zip(numerator.seconds, denominator.seconds, strict=True)
    return statistics.median((numerator.images / a) / (denominator.images / b) for a, b in pairs)


def make_data(args: argparse.Namespace) -> ClassificationDataModule:
    data: ClassificationDataModule
    if args.dataset == "digits":
        data = DigitsDataModule(batch_size=args.batch_size)
    elif args.dataset == "cifar10":  # the default training augmentation: random crop (padding 4) and flip
        data = CIFAR10DataModule(data_dir=args.data_dir, download=False, batch_size=args.batch_size)
    else:
        data = SyntheticDataModule(
            channels=args.channels,
            image_size=args.image_size,
            train_size=args.train_size,
            val_size=16,
            batch_size=args.batch_size,
            augment=Augmentation(flip=True, crop_padding=4),
        )
    data.setup("fit")
    return data


def parse_args() -> argparse.Namespace:
    cuda = torch.cuda.is_available()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--device", default="cuda" if cuda else "cpu")
    parser.add_argument(
        "--dataset",
        choices=["digits", "cifar10", "synthetic"],
        default=None,
        help="default: synthetic (CIFAR-10-shaped) on CUDA, digits on the CPU",
    )
    parser.add_argument("--data-dir", default="data", help="where CIFAR-10 is (torchvision's layout)")
    parser.add_argument("--image-size", type=int, default=32, help="synthetic images' height and width")
    parser.add_argument("--channels", type=int, default=3, help="synthetic images' channels")
    parser.add_argument("--train-size", type=int, default=50_000, help="synthetic training images")
    parser.add_argument("--batch-size", type=int, default=None, help="default: 512 on CUDA, 64 on the CPU")
    parser.add_argument("--rounds", type=int, default=10, help="timed epochs of each loop, alternated")
    parser.add_argument(
        "--models",
        nargs="+",
        choices=["small_cnn", "resnet18", "linear"],
        default=None,
        help="parity pairs' networks (linear: one layer, to show per-step overheads); default: "
        "small_cnn and resnet18 on CUDA, small_cnn on the CPU",
    )
    parser.add_argument(
        "--data-paths",
        nargs="+",
        choices=["loader", "resident"],
        default=None,
        help="parity pairs' data paths; default: both on CUDA, loader on the CPU",
    )
    parser.add_argument(
        "--precisions",
        nargs="+",
        choices=["fp32", "bf16"],
        default=None,
        help="parity pairs' precisions (bf16 comes with channels_last); default: "
        "both on CUDA, fp32 on the CPU",
    )
    parser.add_argument(
        "--fast-path",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="time the fast path with the classic recipe and best eager; default: on CUDA",
    )
    parser.add_argument(
        "--compile-modes",
        nargs="+",
        default=["config", "default"],
        help="the fast path's torch.compile modes: config (the YAML's), default, reduce-overhead, none",
    )
    parser.add_argument(
        "--bare",
        action="store_true",
        help="also time a bare LightningModule (returns the loss, logs nothing) per parity pair: "
        "the Trainer's own share of the gap",
    )
    parser.add_argument(
        "--noise-floor",
        action="store_true",
        help="also time a second, identical hand-written loop per parity pair: how far apart two "
        "copies of the same loop measure in this process",
    )
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 3 rounds, <= 2048 synthetic images")
    parser.add_argument("--save", action="store_true", help=f"also write the table under {RESULTS}")
    args = parser.parse_args()
    args.dataset = args.dataset or ("synthetic" if args.device.startswith("cuda") else "digits")
    args.batch_size = args.batch_size or (512 if args.device.startswith("cuda") else 64)
    args.models = args.models or (
        ["small_cnn", "resnet18"] if args.device.startswith("cuda") else ["small_cnn"]
    )
    args.data_paths = args.data_paths or (
        ["loader", "resident"] if args.device.startswith("cuda") else ["loader"]
    )
    args.precisions = args.precisions or (["fp32", "bf16"] if args.device.startswith("cuda") else ["fp32"])
    args.fast_path = args.device.startswith("cuda") if args.fast_path is None else args.fast_path
    if args.quick:
        args.rounds, args.train_size = 3, min(args.train_size, 2048)
    return args


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU ({torch.get_num_threads()} threads)"


def table(
    args: argparse.Namespace,
    data: ClassificationDataModule,
    groups: list[dict[str, Measured]],
    ratios: list[tuple[str, float]],
    device: torch.device,
) -> str:
    def mib(measured: Measured) -> str:
        return f"{measured.peak() / 2**20:.0f}" if device.type == "cuda" else "n/a"

    lines = [
        f"device: {device_name(device)}, torch {torch.__version__}, lightning {L.__version__}, "
        f"{datetime.date.today().isoformat()}",
        f"data: {args.dataset} {data.dims}, batch {args.batch_size}, "
        f"{len(data.splits['train'])} training images, "
        f"DataLoader workers {data.loader_workers}, images/s: median of {args.rounds} epochs after a warm-up",
        "",
        f"| {'loop':<58} | {'images/s':>10} | {'peak MiB':>8} |",
        f"|{'-' * 60}|{'-' * 12}|{'-' * 10}|",
    ]
    for group in groups:  # the Lightning loop, then the hand-written loops of the same rounds
        for i, (name, m) in enumerate(group.items()):
            label = name if i == 0 else f"  with: {name}"
            lines.append(f"| {label:<58} | {m.rate():>10.0f} | {mib(m):>8} |")
    lines += ["", "ratios: median over rounds of the ratio within each round (a round runs each loop once)"]
    lines += ["", "| ratio | value |", "|---|---|"]
    lines += [f"| {name} | {value:.3f} |" for name, value in ratios]
    return "\n".join(lines)


def main() -> None:
    args = parse_args()
    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    data = make_data(args)
    groups: list[dict[str, Measured]] = []
    ratios: list[tuple[str, float]] = []

    lightning_rates: dict[Setup, float] = {}
    for setup in parity_setups(args.models, args.data_paths, args.precisions):
        lit, hand = f"Lightning {setup.label}", f"hand-written {setup.label}"
        again = f"{hand}, again"
        hand_setups = {hand: setup, again: setup} if args.noise_floor else {hand: setup}
        group = run_group(setup, hand_setups, data, device, args.rounds, lit)
        lightning_rates[setup] = group[lit].rate()
        ratios.append(
            (f"parity {setup.label} (goal >= 0.97 GPU, 0.90 CPU)", paired_ratio(group[lit], group[hand]))
        )
        if args.noise_floor:
            ratios.append(
                (f"{again} / hand-written (noise floor, 1 ideally)", paired_ratio(group[again], group[hand]))
            )
        if device.type == "cuda":
            ratios.append((f"memory {setup.label} (goal <= 1.05)", group[lit].peak() / group[hand].peak()))
        groups.append(group)
        if args.bare:
            bare = f"bare Lightning {setup.label}"
            group = run_group(setup, {hand: setup}, data, device, args.rounds, bare, bare=True)
            ratios.append(
                (f"{bare} / hand-written (the Trainer's own cost)", paired_ratio(group[bare], group[hand]))
            )
            groups.append(group)

    for setup, rate in lightning_rates.items():
        loader = replace(setup, data_path="loader")
        if setup.data_path == "resident" and loader in lightning_rates:
            # Two runs, not one: a ratio of their median epochs, less exact than the paired ones.
            ratios.append(
                (f"Lightning {setup.label} / {loader.label} (data path)", rate / lightning_rates[loader])
            )

    if args.fast_path:
        classic, eager = "classic recipe (hand-written)", "best eager (hand-written)"
        hand_setups = {classic: classic_recipe(), eager: best_eager(device)}
        for mode in args.compile_modes:
            setup = fast_path(device, None if mode == "none" else mode)  # type: ignore[arg-type]
            fast = f"fast path (Lightning) {setup.label}"
            group = run_group(setup, hand_setups, data, device, args.rounds, fast)
            ratios.append(
                (f"{fast} / classic recipe (goal >= 2.5)", paired_ratio(group[fast], group[classic]))
            )
            ratios.append((f"{fast} / best eager (goal >= 1.3)", paired_ratio(group[fast], group[eager])))
            groups.append(group)

    text = table(args, data, groups, ratios, device)
    print(text)
    if args.save:
        RESULTS.mkdir(exist_ok=True)
        card = re.sub(r"[^A-Za-z0-9]+", "-", device_name(device)).strip("-").lower()
        path = RESULTS / f"{card}_{datetime.date.today().isoformat()}_{args.dataset}.md"
        path.write_text(f"```\npython benchmarks/throughput.py {' '.join(sys.argv[1:])}\n```\n\n{text}\n")
        print(f"saved {path}")


if __name__ == "__main__":
    main()
