"""Stop on SIGTERM or SIGINT with a resumable checkpoint, and say what a resume does.

A scheduler's SIGTERM (pre-emption, ``kill``, a container stop) or a Ctrl+C should cost at most
one step of work. Lightning turns SIGINT into a ``KeyboardInterrupt`` wherever the program happens
to be (possibly between ``backward`` and the optimizer step) and, off SLURM, stops at the next
step after a SIGTERM with exit code 0 and no checkpoint. Here both signals only set a flag; the end of
the current training step saves ``interrupted.ckpt`` beside ``last.ckpt`` (a clean restart point
Lightning knows how to resume from) and the run exits with ``128 + signal number`` (143 for
SIGTERM, 130 for SIGINT), the shell convention for "killed by this signal".
A second SIGINT stops at once, for the impatient.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any, Protocol, runtime_checkable

import lightning as L
from lightning.pytorch.callbacks import Callback

from lit_classifier.checkpoints.io import is_local
from lit_classifier.checkpoints.runs import INTERRUPTED, checkpoint_folder, saved_progress
from lit_classifier.data.base import ClassificationDataModule
from lit_classifier.data.interfaces import datamodule_of
from lit_classifier.framework import callbacks_of, ended_epoch, saved_loader_state

_SIGNALS = (signal.SIGTERM, signal.SIGINT)


@runtime_checkable
class ResumedElsewhere(Protocol):
    """A callback of a run that is not resumed with ``fit --ckpt_path``: its ``resume_hint`` says how."""

    resume_hint: str


class TrainingInterrupted(SystemExit):
    """Raised after the checkpoint of an interrupted run is saved; its exit code is 128 + signal."""


class Interruption(Callback):
    """Saves ``interrupted.ckpt`` and exits non-zero when SIGTERM or SIGINT arrives during ``fit``.

    Also prints, when a run resumes, where it resumes and what happens to a half-done epoch.
    The signal handlers exist only while training runs (from ``on_train_start`` to its end).
    """

    def __init__(self) -> None:
        self.received: int | None = None
        self._previous: dict[int, Any] = {}
        # epoch, batches done, mid-epoch, global step, whether the loader saved its place
        self._resumed: tuple[int, int, bool, int | None, bool] | None = None

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.is_global_zero:
            self._say_where_a_resume_starts(trainer)
        self.received = None
        if threading.current_thread() is not threading.main_thread():
            return  # only the main thread may handle signals (train_model called from another thread)
        # Installed after Lightning registers its own SIGTERM handler, so this one wins.
        for signum in _SIGNALS:
            self._previous[signum] = signal.getsignal(signum)
            signal.signal(signum, self._on_signal)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self.received == signal.SIGINT and signum == signal.SIGINT:
            raise TrainingInterrupted(128 + signum)  # the second Ctrl+C: stop now, without a checkpoint
        self.received = signum
        name = signal.Signals(signum).name
        # os.write, not print: the signal may arrive in the middle of a print to stderr.
        os.write(2, f"\nreceived {name}: saving a checkpoint at the end of this step\n".encode())

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        # After an epoch's last batch its validation is still to come: a checkpoint saved here would
        # resume into the next epoch without it, so the run stops at the epoch's end instead.
        if self.received is not None and not ended_epoch(trainer):
            self._stop(trainer, f"batch {batch_idx + 1}")

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.received is not None:  # the epoch's validation has run, and its checkpoint is saved
            self._stop(trainer, "its end")

    def _stop(self, trainer: L.Trainer, where: str) -> None:
        assert self.received is not None
        path = checkpoint_folder(trainer) / INTERRUPTED
        trainer.save_checkpoint(path, weights_only=False)  # the full state: optimizer, loops, callbacks
        name = signal.Signals(self.received).name
        # A run that is resumed some other way (a sweep's trial) has a callback that says how.
        callbacks = callbacks_of(trainer)
        hint = next((c.resume_hint for c in callbacks if isinstance(c, ResumedElsewhere)), None)
        if trainer.is_global_zero:
            print(
                f"interrupted by {name} in epoch {trainer.current_epoch + 1}, at {where} "
                f"(global step {trainer.global_step}): saved {path}\n"
                + (
                    hint
                    or f"resume with: lit-classifier fit <the same options> --ckpt_path {path} (or "
                    f"--ckpt_path last), or train_model(<the same arguments>, ckpt_path={str(path)!r})"
                ),
                file=sys.stderr,
                flush=True,
            )
        raise TrainingInterrupted(128 + self.received)

    # Restored before the Trainer's teardown, which then puts back the handlers from before `fit`
    # (restoring later would leave Lightning's stale SIGTERM handler installed).
    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._restore()

    def on_exception(
        self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException
    ) -> None:
        self._restore()

    def _restore(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()

    def on_load_checkpoint(
        self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        epoch, done, ends_epoch = saved_progress(checkpoint)
        mid_epoch = done > 0 and not ends_epoch
        epoch += 1
        stateful_loader = saved_loader_state(checkpoint)
        self._resumed = (epoch, done, mid_epoch, checkpoint.get("global_step"), stateful_loader)

    def _say_where_a_resume_starts(self, trainer: L.Trainer) -> None:
        # A resume's checkpoint is still there; Lightning's learning-rate finder also restores one of
        # its own (a temporary file, gone by now), which is no resume.
        path = trainer.ckpt_path
        if self._resumed is None or path is None or (is_local(path) and not Path(path).is_file()):
            return
        epoch, done_in_epoch, mid_epoch, step, stateful_loader = self._resumed
        if not mid_epoch:
            where = f"after epoch {epoch}" if done_in_epoch else f"at the start of epoch {epoch}"
            print(f"resuming {where} (global step {step}): the run continues exactly")
            return
        done = f"resuming mid-epoch: epoch {epoch} had done {done_in_epoch} batches (global step {step})."
        # litdata's loader was saved by Lightning with its place in the epoch; our data modules save
        # theirs (``ClassificationDataModule.state_dict``).
        datamodule = datamodule_of(trainer)
        if stateful_loader or (
            isinstance(datamodule, ClassificationDataModule) and datamodule.resumes_mid_epoch
        ):
            print(f"{done} The training order saved its place: the epoch goes on at the next sample")
            return
        print(
            f"{done} It runs only its remaining batches, taken from the start of that epoch's shuffled "
            "order, so some samples of this one epoch repeat and as many are not seen (later epochs keep "
            "their usual order; an end-of-epoch checkpoint resumes exactly)."
        )
