"""What a user waits for: lit-classifier beside the classic hand-written loop, on the same machine.

CPU, scikit-learn's digits, 8 epochs (``--epochs``) of SmallCNN from the same initial weights,
batches of 64 (the default run). Each round measures, one after the other:

- **steady epoch**: an epoch with its validation, from one epoch's start to the next (Lightning's
  epoch-end work, checkpoint and logging included), median of all epochs but the first, for ``train_model``
  against ``classic_loop.train_model``; the ratio's goal is at most 1/0.90;
- **train_model call**: the whole call, until it returns with the trained model (imports done
  before; the pictures are drawn in the background and waited for outside the timing, their
  drawing time reported apart); goal at most 1.25;
- **process**: ``lit-classifier fit --trainer.max_epochs 8`` against ``python
  benchmarks/classic_loop.py``, each a fresh process (imports included); goal at most 1.3;
- **bare Lightning epoch** (no goal): a LightningModule that only computes the loss, with no
  logging, checkpoint or callback, on the same loaders: what Lightning's own loop costs;
- **import lightning** (no goal): a process that imports ``lightning`` and nothing else, against
  one that imports what the hand loop's script imports (torch, scikit-learn's datasets): the part
  of the process's time that any Lightning program pays before its first line.

A ratio is lit-classifier's time over the hand loop's, taken within each round (so that slow
changes of the machine's load cancel out); the table gives the median of the per-round ratios, its
range, and the two times of the round that gave it (the lower middle one for an even count), so
that the ratio and its two figures come from the same round.

    python benchmarks/user_wait.py                    # 5 rounds, a few minutes on 2 cores
    python benchmarks/user_wait.py --rounds 11 --save # the table in benchmarks/results/
"""

from __future__ import annotations

import argparse
import copy
import datetime
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import chdir
from dataclasses import dataclass, field
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback
from torch import Tensor, nn

import classic_loop
from lit_classifier import DigitsDataModule, train_model
from lit_classifier.command.quiet import quiet_lightning
from lit_classifier.models import SmallCNN

RESULTS = Path(__file__).resolve().parent / "results"
# What each process imports before its first line: the hand loop's script, and Lightning alone.
HAND_IMPORTS = "import torch, sklearn.datasets"
LIGHTNING = "import lightning"
GOALS = {"steady epoch": 1 / 0.90, "train_model call": 1.25, "process": 1.3}


@dataclass
class Row:
    """One measure: seconds of lit-classifier and of the hand loop in each round."""

    name: str
    ours: list[float] = field(default_factory=list)
    hand: list[float] = field(default_factory=list)

    def ratios(self) -> list[float]:
        return [ours / hand for ours, hand in zip(self.ours, self.hand, strict=True)]

    def median_round(self) -> int:
        """The round whose ratio is the median of the per-round ratios (the lower middle one)."""
        ratios = self.ratios()
        return ratios.index(statistics.median_low(ratios))


class EpochClock(Callback):
    """Seconds from each epoch's start to the next one's (the last: to the end of training)."""

    def __init__(self) -> None:
        self.seconds: list[float] = []
        self._start: float | None = None

    def _lap(self) -> None:
        now = time.perf_counter()
        if self._start is not None:
            self.seconds.append(now - self._start)
        self._start = now

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._lap()

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._lap()


class BareModule(L.LightningModule):
    """The loss and the optimizer, nothing else: the Trainer's own cost per epoch."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.criterion = nn.CrossEntropyLoss()

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        return self.criterion(self.model(batch[0]), batch[1])

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        self.criterion(self.model(batch[0]), batch[1])

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.05, momentum=0.9)


def same_start(seed: int) -> tuple[nn.Module, nn.Module]:
    """Two SmallCNNs with equal initial weights, the lazy first convolution materialised."""
    torch.manual_seed(seed)
    network = SmallCNN(num_classes=10)
    network(torch.zeros(1, 1, 8, 8))
    return network, copy.deepcopy(network)


def steady(seconds: list[float]) -> float:
    return statistics.median(seconds[1:])  # the first epoch warms caches up


def timed(run: Callable[[], object]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def one_round(seed: int, epochs: int, rows: dict[str, Row], drawing: list[float]) -> None:
    ours_net, hand_net = same_start(seed)
    start = time.perf_counter()  # both calls load the digits themselves
    train, val = classic_loop.digits_loaders()
    hand_seconds = classic_loop.train_model(hand_net, train, val, epochs, verbose=False)
    rows["train_model call"].hand.append(time.perf_counter() - start)

    clock = EpochClock()
    with tempfile.TemporaryDirectory() as folder, chdir(folder):
        start = time.perf_counter()
        result = train_model(ours_net, epochs, 0.05, DigitsDataModule(), callbacks=[clock])
        rows["train_model call"].ours.append(time.perf_counter() - start)
        drawing.append(timed(result.pictures))  # what is left of the drawing after the return
    rows["steady epoch"].ours.append(steady(clock.seconds))
    rows["steady epoch"].hand.append(steady(hand_seconds))

    bare_clock = EpochClock()
    bare_net, _ = same_start(seed)
    with quiet_lightning():
        trainer = L.Trainer(
            max_epochs=epochs, logger=False, enable_checkpointing=False, enable_progress_bar=False,
            enable_model_summary=False, num_sanity_val_steps=0, callbacks=[bare_clock], accelerator="cpu",
        )  # fmt: skip
        trainer.fit(BareModule(bare_net), train, val)
    rows["bare Lightning epoch"].ours.append(steady(bare_clock.seconds))
    rows["bare Lightning epoch"].hand.append(rows["steady epoch"].hand[-1])

    with tempfile.TemporaryDirectory() as folder:
        fit = ["lit-classifier", "fit", f"--trainer.max_epochs={epochs}"]
        hand = [sys.executable, str(Path(classic_loop.__file__)), f"--epochs={epochs}"]
        rows["process"].ours.append(timed(lambda: run_in(folder, fit)))
        rows["process"].hand.append(timed(lambda: run_in(folder, hand)))
        lightning, hand_imports = [sys.executable, "-c", LIGHTNING], [sys.executable, "-c", HAND_IMPORTS]
        rows["import lightning"].ours.append(timed(lambda: run_in(folder, lightning)))
        rows["import lightning"].hand.append(timed(lambda: run_in(folder, hand_imports)))


def run_in(folder: str, command: list[str]) -> None:
    subprocess.run(command, cwd=folder, check=True, capture_output=True)


def table(rows: dict[str, Row], drawing: list[float]) -> str:
    lines = [
        "| measure | ratio: median of per-round ratios (range) | that round: lit-classifier s | hand loop s "
        "| goal |",
        "|---|---|---|---|---|",
    ]
    for row in rows.values():
        ratios, middle = row.ratios(), row.median_round()
        goal = GOALS.get(row.name)
        verdict = "" if goal is None else f"<= {goal:.2f} {'met' if ratios[middle] <= goal else 'NOT met'}"
        lines.append(
            f"| {row.name} | {ratios[middle]:.2f}x ({min(ratios):.2f}-{max(ratios):.2f}) | "
            f"{row.ours[middle]:.3f} | {row.hand[middle]:.3f} | {verdict} |"
        )
    lines.append("")
    left = statistics.median(drawing)
    lines.append(f"Pictures still being drawn when `train_model` returned: {left:.3f} s (median).")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=8, help="at least 2: the first is a warm-up")
    parser.add_argument("--save", action="store_true", help="write the table to benchmarks/results/")
    args = parser.parse_args()
    names = ["steady epoch", "train_model call", "process", "bare Lightning epoch", "import lightning"]
    rows = {name: Row(name) for name in names}
    drawing: list[float] = []
    load = os.getloadavg()[0]
    for seed in range(args.rounds):
        one_round(seed, args.epochs, rows, drawing)
        print(f"round {seed + 1}/{args.rounds} done", flush=True)
    threads = torch.get_num_threads()
    header = (
        f"CPU, {threads} threads, torch {torch.__version__}, lightning {L.__version__}; "
        f"{args.epochs} epochs, {args.rounds} rounds; "
        f"load average {load:.2f} before, {os.getloadavg()[0]:.2f} after\n"
        f"`python benchmarks/user_wait.py --rounds {args.rounds} --epochs {args.epochs}`\n"
    )
    text = header + "\n" + table(rows, drawing)
    print(text)
    if args.save:
        RESULTS.mkdir(exist_ok=True)
        path = RESULTS / f"cpu-{threads}-threads_{datetime.date.today()}_user-wait.md"
        path.write_text(f"# What the user waits for\n\n{text}\n")
        print(f"saved {path}")


if __name__ == "__main__":
    main()
