"""``--ema.decay``: validation and checkpoints use an exponential moving average of the weights, the
weights training goes on from are kept beside it, and a resume mid-epoch continues it exactly."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import pytest
import torch
from torch import Tensor

from helpers import assert_same_tensors, cli, last_value, read_metrics, run_dir
from lit_classifier import train_model
from lit_classifier.callbacks import WeightEMA
from lit_classifier.models import SmallCNN
from test_interrupt_chain import interrupted_at
from test_resume import RUN as WITHOUT_AVERAGE

# Shuffled epochs of 4 steps, momentum and a scheduler (all the state a resume must restore), and an average.
RUN = [*WITHOUT_AVERAGE, "--ema.decay=0.8"]
AVERAGING = ("state_dict", "current_model_state", "averaging_state")


class RecordWeights(L.Callback):
    """Keeps a copy of the network's floating-point weights after every optimizer step."""

    def __init__(self) -> None:
        self.steps: list[dict[str, Tensor]] = []

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        weights = pl_module.state_dict().items()
        self.steps.append({name: value.clone() for name, value in weights if value.is_floating_point()})


def checkpoint(folder: Path, name: str = "last.ckpt") -> dict[str, Any]:
    return torch.load(folder / "checkpoints" / name, weights_only=True)


def test_without_a_decay_a_run_keeps_no_average(trained: Path) -> None:
    saved = torch.load(trained, weights_only=True)

    assert not {"current_model_state", "averaging_state"} & saved.keys()
    assert "WeightEMA" not in saved["callbacks"]


def test_validation_and_the_checkpoint_hold_the_moving_average_of_every_step() -> None:
    run = cli("fit", *RUN, "--trainer.max_epochs=1", "--trainer.callbacks+=test_ema.RecordWeights")
    steps = next(c for c in run.trainer.callbacks if isinstance(c, RecordWeights)).steps
    saved = checkpoint(run_dir(run))

    assert len(steps) == 4 and saved["averaging_state"]["n_averaged"] == 4
    for name, average in saved["state_dict"].items():
        if not average.is_floating_point():
            continue
        expected = steps[0][name]
        for step in steps[1:]:
            expected = 0.8 * expected + 0.2 * step[name]
        torch.testing.assert_close(average, expected)
        assert torch.equal(saved["current_model_state"][name], steps[-1][name])  # training goes on from these
    assert_same_tensors(run.model.state_dict(), saved["state_dict"])  # the trained module is the average
    # The run's validation was of the average: validating the checkpoint gives the same loss.
    fit_loss = last_value(read_metrics(run_dir(run)), "val_loss")
    checked = cli(
        "validate",
        "--trainer.limit_val_batches=2",
        f"--ckpt_path={run_dir(run) / 'checkpoints' / 'last.ckpt'}",
    )
    assert float(checked.trainer.callback_metrics["val_loss"]) == pytest.approx(fit_loss, rel=1e-6)


def test_a_mid_epoch_resume_gives_the_average_of_the_uninterrupted_run() -> None:
    whole = checkpoint(run_dir(cli("fit", *RUN, "--trainer.max_epochs=2")))
    # Stopped after step 3 of the 4 of epoch 1 by a checkpoint every 3 steps, then by SIGTERM: the
    # interrupt's checkpoint is written in the step's last hook, before the average's own update.
    for stop in (["--trainer.max_steps=3", "--checkpoint.every_n_train_steps=3"], interrupted_at(0, 2)):
        try:
            cli("fit", *RUN, "--trainer.max_epochs=2", *stop)
        except SystemExit as interrupted:
            assert interrupted.code == 143
        resumed = checkpoint(run_dir(cli("fit", *RUN, "--trainer.max_epochs=2", "--ckpt_path=last")))

        assert resumed["global_step"] == whole["global_step"] == 8
        for key in AVERAGING:
            assert resumed[key].keys() == whole[key].keys()
            assert_same_tensors(resumed[key], whole[key])


def test_a_resume_that_drops_or_changes_the_decay_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    cli("fit", *RUN, "--trainer.max_epochs=1")
    capsys.readouterr()

    for resume_with, given in (([], "none"), (["--ema.decay=0.5"], "--ema.decay 0.5")):
        with pytest.raises(SystemExit) as exit_info:
            cli("fit", *WITHOUT_AVERAGE, *resume_with, "--trainer.max_epochs=2", "--ckpt_path=last")

        assert exit_info.value.code == 2
        error = f"error: this checkpoint was trained with --ema.decay 0.8 and this command gives {given}"
        assert capsys.readouterr().err.startswith(error)
    assert len(list(Path("runs/lightning_logs").iterdir())) == 1  # no folder for the refused runs


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("--ema.decay=1.5", "error: --ema.decay must be between 0 and 1, got 1.5"),
        ("--checkpoint.save_weights_only=true", "error: --ema.decay needs full checkpoints"),
    ],
)
def test_a_bad_decay_or_weights_only_checkpoints_are_one_error(
    option: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli("fit", *RUN, "--trainer.max_epochs=1", option)

    assert exit_info.value.code == 2
    assert capsys.readouterr().err.startswith(message)


def test_train_model_takes_the_callback_and_returns_the_average() -> None:
    result = train_model(
        SmallCNN(), epochs=1, callbacks=[WeightEMA(decay=0.9)], limit_train_batches=3, limit_val_batches=2
    )

    assert result.trainer is not None and result.trainer.checkpoint_callback is not None
    saved = torch.load(result.trainer.checkpoint_callback.best_model_path, weights_only=True)
    assert saved["averaging_state"]["n_averaged"] == 3
    assert_same_tensors(result.module.state_dict(), saved["state_dict"])
