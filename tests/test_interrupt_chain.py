"""Any chain of interrupts and ``--ckpt_path last`` resumes ends where the uninterrupted run ends:
the same global step, and exactly one validation row per epoch across the run folders."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import lightning as L
import pytest
import torch

from helpers import assert_same_tensors, cli, read_metrics
from lit_classifier.command.cli import ClassifierCLI

# 4 epochs of 6 steps; validation of 2 batches after each.
RUN = ["--trainer.limit_train_batches=6", "--trainer.limit_val_batches=2", "--trainer.max_epochs=4"]
RUN += ["--plots.enabled=false"]


class SignalAt(L.Callback):
    """Sends this process a signal (15: SIGTERM) at the start of a training or validation batch."""

    def __init__(self, epoch: int, batch: int, validation: bool = False, signum: int = 15) -> None:
        self.epoch, self.batch, self.validation, self.signum = epoch, batch, validation, signum

    def _maybe(self, trainer: L.Trainer, batch_idx: int) -> None:
        if trainer.current_epoch == self.epoch and batch_idx == self.batch:
            os.kill(os.getpid(), self.signum)

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: object, batch_idx: int
    ) -> None:
        if not self.validation:
            self._maybe(trainer, batch_idx)

    def on_validation_batch_start(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        batch: object,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        if self.validation and not trainer.sanity_checking:
            self._maybe(trainer, batch_idx)


def interrupted_at(epoch: int, batch: int, validation: bool = False) -> list[str]:
    where = [f"--trainer.callbacks.epoch={epoch}", f"--trainer.callbacks.batch={batch}"]
    return [
        "--trainer.callbacks+=test_interrupt_chain.SignalAt",
        *where,
        f"--trainer.callbacks.validation={validation}",
    ]


def assert_same_weights_as_uninterrupted(finished: ClassifierCLI, run: list[str]) -> None:
    """Every batch was trained once, in the uninterrupted run's order: the same weights at the end."""
    uninterrupted = cli("fit", *run, "--trainer.logger.init_args.save_dir=uninterrupted")
    assert_same_tensors(finished.model.state_dict(), uninterrupted.model.state_dict())


def validation_rows() -> list[int]:
    """The epoch of every validation row in every run folder, in order."""
    epochs = []
    for folder in sorted(Path("runs/lightning_logs").iterdir(), key=lambda p: int(p.name.split("_")[1])):
        if (folder / "metrics.csv").is_file():
            epochs += [int(row["epoch"]) for row in read_metrics(folder) if row.get("val_loss")]
    return epochs


@pytest.mark.parametrize(
    "interrupts",
    [
        [(0, 0, False)],  # the first batch of the first epoch
        [(1, 5, False), (2, 3, False)],  # the last batch of an epoch, then mid-epoch
        [(1, 5, False), (2, 0, False), (3, 1, True)],  # last batch, first batch, during validation
        [(3, 1, True)],  # the final epoch's validation
    ],
    ids=["first-batch", "last-then-mid", "last-first-validation", "final-validation"],
)
def test_chained_interrupts_end_at_the_uninterrupted_step_with_one_validation_per_epoch(
    interrupts: list[tuple[int, int, bool]],
) -> None:
    for epoch, batch, validation in interrupts:
        with pytest.raises(SystemExit) as exit_info:
            cli("fit", *RUN, *interrupted_at(epoch, batch, validation), "--ckpt_path=last")
        assert exit_info.value.code == 143

    finished = cli("fit", *RUN, "--ckpt_path=last")

    assert finished.trainer.global_step == 4 * 6
    assert validation_rows() == [0, 1, 2, 3]
    for folder in Path("runs/lightning_logs").iterdir():
        assert (folder / "checkpoints").is_dir(), f"{folder} holds only config files"
    assert_same_weights_as_uninterrupted(finished, RUN)


def test_the_epoch_line_after_a_mid_epoch_resume_times_that_run_only(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        cli("fit", *RUN, *interrupted_at(1, 2))
    capsys.readouterr()

    cli("fit", *RUN, "--ckpt_path=last")

    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("epoch ")]
    assert lines[0].startswith("epoch 2/4")
    assert all(float(line.split("| ")[-1].removesuffix(" s")) < 60 for line in lines)


def same_arithmetic_env() -> dict[str, str]:
    """The environment of a killed run: this test's modules importable, and this process's thread
    count. Bit-equal weights need the same arithmetic in every process, and a CPU reduction's float
    rounding depends on how many threads share it; a fresh process takes its count from the machine,
    while this one's may have been set by code that ran in it earlier."""
    path = os.pathsep.join([str(Path(__file__).parent), *sys.path])
    return {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": str(torch.get_num_threads())}


def test_sigkills_with_a_checkpoint_every_step_resume_to_the_uninterrupted_step() -> None:
    every_step = [*RUN, "--checkpoint.every_n_train_steps=1"]
    for epoch, batch, validation in [(1, 0, True), (2, 3, False)]:  # in validation, then mid-epoch
        where = [
            *interrupted_at(epoch, batch, validation),
            f"--trainer.callbacks.signum={int(signal.SIGKILL)}",
        ]
        killed = subprocess.run(
            [sys.executable, "-m", "lit_classifier", "fit", *every_step, *where, "--ckpt_path=last"],
            env=same_arithmetic_env(),
            capture_output=True,
            timeout=120,
        )
        assert killed.returncode == -signal.SIGKILL

    finished = cli("fit", *every_step, "--ckpt_path=last")

    assert finished.trainer.global_step == 4 * 6
    assert_same_weights_as_uninterrupted(finished, every_step)
