"""One list of callbacks for every run (``callbacks.default_callbacks``): the command line's and
``train_model``'s, with the ones that would do nothing left out unless asked for."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import lightning as L
import pytest
import torch

from helpers import FAST, assert_same_tensors, cli
from lit_classifier import train_model
from lit_classifier.callbacks import (
    CALLBACKS,
    EarlyStop,
    HeadFirstFinetuning,
    Interruption,
    LRRangeTest,
    ProgressBar,
    RunCheckpoint,
    SpeedOptions,
    default_callbacks,
)
from lit_classifier.models import SmallCNN

NOT_ASKED_FOR = (HeadFirstFinetuning, LRRangeTest, SpeedOptions, EarlyStop)


def kinds(trainer: L.Trainer) -> set[type]:
    return {type(callback) for callback in trainer.callbacks} & set(CALLBACKS.values())  # type: ignore[attr-defined]


def test_a_command_carries_every_callback_but_those_not_asked_for() -> None:
    run = cli("fit", *FAST, "--plots.enabled=false")

    assert kinds(run.trainer) == set(CALLBACKS.values()) - set(NOT_ASKED_FOR)


def test_a_command_that_asks_for_one_carries_it() -> None:
    run = cli("fit", *FAST, "--plots.enabled=false", "--speed.channels_last=true")

    assert SpeedOptions in kinds(run.trainer)


def test_train_model_carries_the_commands_callbacks_but_the_progress_bar() -> None:
    result = train_model(SmallCNN(), epochs=1, limit_train_batches=3, limit_val_batches=2)

    assert result.trainer is not None
    assert kinds(result.trainer) == set(CALLBACKS.values()) - {*NOT_ASKED_FOR, ProgressBar}
    checkpoint = result.trainer.checkpoint_callback
    assert isinstance(checkpoint, RunCheckpoint) and Path(checkpoint.last_model_path).name == "last.ckpt"


def test_a_callback_given_replaces_the_default_of_its_kind_and_others_come_first() -> None:
    mine, extra = Interruption(), L.Callback()

    callbacks = default_callbacks([extra, mine])

    assert callbacks[0] is extra and mine in callbacks
    assert sum(isinstance(callback, Interruption) for callback in callbacks) == 1


def test_a_resume_keeps_a_callback_whose_state_the_checkpoint_holds() -> None:
    finetuned = cli("fit", *FAST, "--plots.enabled=false", "--finetune.backbone_lr_scale=0.1")
    saved = Path(finetuned.trainer.checkpoint_callback.last_model_path)  # type: ignore[union-attr]

    resumed = cli("fit", *FAST, "--plots.enabled=false", "--trainer.max_epochs=2", f"--ckpt_path={saved}")

    assert HeadFirstFinetuning in kinds(resumed.trainer)  # its parameter groups were restored
    assert resumed.trainer.current_epoch == 2


class SigintAtStep(L.Callback):
    """Sends this process SIGINT after training step ``step``, as Ctrl+C would."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer: L.Trainer, *args: Any) -> None:
        if trainer.global_step == self.step:
            os.kill(os.getpid(), signal.SIGINT)


def test_train_model_stopped_by_ctrl_c_saves_a_checkpoint_that_ckpt_path_resumes_exactly(
    capsys: pytest.CaptureFixture[str],
) -> None:
    options: dict[str, Any] = {"epochs": 2, "limit_train_batches": 4, "limit_val_batches": 2}
    torch.manual_seed(0)
    whole = train_model(SmallCNN(), **options)
    torch.manual_seed(0)

    with pytest.raises(SystemExit) as stopped:
        train_model(SmallCNN(), **options, callbacks=[SigintAtStep(6)])

    assert stopped.value.code == 130
    saved = Path("runs/train_model/version_1/checkpoints/interrupted.ckpt")
    assert f"train_model(<the same arguments>, ckpt_path='{saved}')" in capsys.readouterr().err
    torch.manual_seed(0)
    resumed = train_model(SmallCNN(), **options, ckpt_path=saved)
    assert resumed.trainer is not None and resumed.trainer.global_step == 8
    assert_same_tensors(whole.module.state_dict(), resumed.module.state_dict())
