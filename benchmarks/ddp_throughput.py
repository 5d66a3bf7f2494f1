"""Training throughput of one process against several (DDP) on the same machine.

    python benchmarks/ddp_throughput.py --devices 1
    python benchmarks/ddp_throughput.py --devices 2                  # two processes, gloo on the CPU
    python benchmarks/ddp_throughput.py --devices 1 --accelerator gpu

Trains ``SmallCNN`` on digits (no validation, so an epoch is training steps only) and prints the
median images per second over all processes of epochs 2 and later. Each process gets its own shard
and its own batch of ``--batch-size`` images, so one optimizer step sees batch size x processes.
Under DDP on the CPU Lightning gives each process cpu_count / processes threads.
"""

from __future__ import annotations

import argparse
import statistics
import time

import lightning as L

from lit_classifier import ClassifierModule, DigitsDataModule
from lit_classifier.command.process_group import released_process_group
from lit_classifier.models import SmallCNN


class EpochTimer(L.Callback):
    """Seconds and images of every training epoch, over all processes."""

    def __init__(self) -> None:
        self.rates: list[float] = []
        self._started = 0.0

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        trainer.strategy.barrier()  # every process starts the clock together
        self._started = time.perf_counter()

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        trainer.strategy.barrier()  # and stops it when the slowest is done
        seconds = time.perf_counter() - self._started
        images = trainer.num_training_batches * trainer.datamodule.batch_size * trainer.world_size
        self.rates.append(images / seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--devices", type=int, default=1)
    parser.add_argument("--accelerator", default="cpu")
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()

    L.seed_everything(0, verbose=False)
    timer = EpochTimer()
    trainer = L.Trainer(
        accelerator=args.accelerator,
        devices=args.devices,
        strategy="ddp" if args.devices > 1 else "auto",
        max_epochs=args.epochs,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[timer],
    )
    with released_process_group():  # a gloo group left to the interpreter's exit can abort it
        trainer.fit(ClassifierModule(SmallCNN()), datamodule=DigitsDataModule(batch_size=args.batch_size))
    if trainer.is_global_zero:
        rate = statistics.median(timer.rates[1:])
        print(f"{args.devices} process(es) on {args.accelerator}: {rate:,.0f} images/s (median, epochs 2-)")


if __name__ == "__main__":
    main()
