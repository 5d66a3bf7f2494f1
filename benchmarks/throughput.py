"""Throughput of ClassifierModule + Trainer against a hand-written PyTorch loop, in one process.

Both train the same network on the same DataLoader with the same optimizer, and both count the
loss and the correct predictions every step (on the device, as a careful hand-written loop would).
The runs alternate after a warm-up epoch; the median epoch throughput of each is reported with
the ratio Lightning / hand-written.

With ``--data-path resident`` both loops read device-resident batches (``lit_classifier.data.gpu``:
the split held on the device, batched and augmented there) instead of a DataLoader; ``both``
measures each path and also prints the ratio resident / DataLoader.

    python benchmarks/throughput.py                     # digits, SmallCNN, CPU
    python benchmarks/throughput.py --device cuda --batch-size 512
    python benchmarks/throughput.py --data-path both --repeats 3   # device-resident vs DataLoader
    python benchmarks/throughput.py --dataset cifar10 --data-dir data --data-path both --device cuda
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
from collections.abc import Callable, Iterable

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback
from torch import nn

from lit_classifier import CIFAR10DataModule, ClassifierModule, DigitsDataModule
from lit_classifier.data import InMemoryDataModule
from lit_classifier.models import SmallCNN


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def hand_written_epoch(
    model: nn.Module, loader: Iterable, optimizer: torch.optim.Optimizer, device: torch.device
) -> int:
    """The classic recipe's inner loop: one epoch, returns the number of images seen."""
    criterion = nn.CrossEntropyLoss()
    model.train()
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    seen = 0
    for images, labels in loader:
        images = images.to(device, non_blocking=True)
        labels = labels.to(device, non_blocking=True)
        optimizer.zero_grad(set_to_none=True)
        logits = model(images)
        loss = criterion(logits, labels)
        loss.backward()
        optimizer.step()
        loss_sum += loss.detach() * labels.shape[0]
        correct += (logits.argmax(dim=1) == labels).sum()
        seen += labels.shape[0]
    _ = (loss_sum / seen).item(), correct.item()  # the epoch's print: one sync per epoch
    return seen


class Alternate(Callback):
    """Times each Lightning epoch, then runs and times one hand-written epoch right after it.

    Alternating in one process puts both under the same thermal, allocator and scheduler state.
    """

    def __init__(self, hand_epoch: Callable[[], int], device: torch.device) -> None:
        self.hand_epoch = hand_epoch
        self.device = device
        self.lightning_seconds: list[float] = []
        self.hand_seconds: list[float] = []
        self._start = 0.0

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        synchronize(self.device)
        self._start = time.perf_counter()

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        synchronize(self.device)
        self.lightning_seconds.append(time.perf_counter() - self._start)
        start = time.perf_counter()
        self.hand_epoch()
        synchronize(self.device)
        self.hand_seconds.append(time.perf_counter() - start)


def measure(
    data: InMemoryDataModule, loader: Iterable, device: torch.device, rounds: int
) -> tuple[list[float], list[float], int]:
    """Per-epoch images/s of the hand-written loop and of ClassifierModule + Trainer on ``loader``
    (warm-up epochs left out), and the images per epoch."""
    L.seed_everything(0, verbose=False)
    images_per_epoch = sum(len(labels) for _, labels in loader)
    module = ClassifierModule(SmallCNN(), num_classes=data.num_classes, input_shape=data.dims)
    hand_model = copy.deepcopy(module.model).to(device)
    hand_optimizer = torch.optim.SGD(hand_model.parameters(), lr=0.05, momentum=0.9)
    alternate = Alternate(lambda: hand_written_epoch(hand_model, loader, hand_optimizer, device), device)
    trainer = L.Trainer(
        accelerator=device.type,
        devices=1,
        max_epochs=rounds + 1,  # the first epoch of each is a warm-up
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        callbacks=[alternate],
    )
    trainer.fit(module, train_dataloaders=loader)
    hand = [images_per_epoch / s for s in alternate.hand_seconds[1:]]
    lit = [images_per_epoch / s for s in alternate.lightning_seconds[1:]]
    return hand, lit, images_per_epoch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=10, help="timed epochs of each, alternated")
    parser.add_argument(
        "--data-path",
        choices=["loader", "resident", "both"],
        default="loader",
        help="DataLoader, device-resident batches, or both (and their ratio)",
    )
    parser.add_argument("--repeats", type=int, default=1, help="turns of each data path, interleaved")
    parser.add_argument("--dataset", choices=["digits", "cifar10"], default="digits")
    parser.add_argument("--data-dir", default="data", help="where CIFAR-10 is (torchvision's layout)")
    args = parser.parse_args()
    device = torch.device(args.device)

    if args.dataset == "digits":
        data: InMemoryDataModule = DigitsDataModule(batch_size=args.batch_size)
    else:  # the default training augmentation: random crop with padding 4 and flip
        data = CIFAR10DataModule(args.data_dir, download=False, batch_size=args.batch_size)
    data.setup("fit")
    paths = ["loader", "resident"] if args.data_path == "both" else [args.data_path]
    loaders = {"loader": data.train_dataloader(), "resident": data.device_batches("train", device)}
    hand: dict[str, list[float]] = {path: [] for path in paths}
    lit: dict[str, list[float]] = {path: [] for path in paths}
    # The paths take turns, `repeats` times: a change in the machine's load hits both alike.
    for _ in range(args.repeats):
        for path in paths:
            hand_rates, lit_rates, images_per_epoch = measure(data, loaders[path], device, args.rounds)
            hand[path] += hand_rates
            lit[path] += lit_rates
    results = {path: (statistics.median(hand[path]), statistics.median(lit[path])) for path in paths}

    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
    else:
        name = f"CPU ({torch.get_num_threads()} threads)"
    print(f"device: {name}, torch {torch.__version__}, lightning {L.__version__}")
    print(
        f"{args.dataset}, SmallCNN, batch {args.batch_size}, {images_per_epoch} images/epoch, "
        f"DataLoader workers {data.num_workers}, median of {args.rounds * args.repeats} epochs"
    )
    print(f"{'data path':<12}{'loop':<32}{'images/s':>12}")
    for path, (hand_rate, lit_rate) in results.items():
        print(f"{path:<12}{'hand-written':<32}{hand_rate:>12.0f}")
        print(f"{path:<12}{'ClassifierModule + Trainer':<32}{lit_rate:>12.0f}")
    for path, (hand_rate, lit_rate) in results.items():
        print(f"ratio Lightning / hand-written ({path}): {lit_rate / hand_rate:.3f}")
    if len(results) == 2:
        speedup = results["resident"][1] / results["loader"][1]
        print(f"ratio resident / DataLoader (ClassifierModule + Trainer): {speedup:.3f}")


if __name__ == "__main__":
    main()
