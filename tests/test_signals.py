"""SIGTERM and SIGINT during ``fit``: a resumable checkpoint, a clear message, a non-zero exit."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from helpers import cli

# Short epochs (5 steps), so that resuming is quick; 200 of them, so the signal arrives in training.
ARGS = ["--trainer.limit_train_batches=5", "--trainer.limit_val_batches=2", "--plots.enabled=false"]


def fit_in_epoch_2() -> subprocess.Popen[str]:
    """``lit-classifier fit`` of 200 epochs in a process of its own, once its epoch 2 has begun."""
    process = subprocess.Popen(
        [sys.executable, "-m", "lit_classifier", "fit", *ARGS, "--trainer.max_epochs=200"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    assert any(line.startswith("epoch 1/200") for line in process.stdout)
    return process


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signal_saves_a_checkpoint_that_resumes_the_run(
    signum: signal.Signals, code: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    process = fit_in_epoch_2()
    try:
        process.send_signal(signum)
        _, err = process.communicate(timeout=60)
    finally:
        process.kill()

    assert process.returncode == code
    saved = tmp_path / "runs" / "lightning_logs" / "version_0" / "checkpoints" / "interrupted.ckpt"
    assert f"received {signum.name}: saving a checkpoint at the end of this step" in err
    assert f"interrupted by {signum.name} in epoch " in err
    assert f"saved {saved.relative_to(tmp_path)}" in err
    assert f"--ckpt_path {saved.relative_to(tmp_path)}" in err
    state = torch.load(saved, weights_only=True)
    assert 1 <= state["epoch"] < 199

    resumed = cli("fit", *ARGS, f"--trainer.max_epochs={state['epoch'] + 2}", "--ckpt_path=last")

    assert f"--ckpt_path last: {saved.relative_to(tmp_path)}" in capsys.readouterr().out
    assert resumed.trainer.current_epoch == state["epoch"] + 2
    assert resumed.trainer.global_step > state["global_step"]


def test_handlers_are_put_back_after_fit() -> None:
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)

    cli("fit", *ARGS, "--trainer.max_epochs=1", "--trainer.limit_train_batches=2")

    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before


def test_a_second_ctrl_c_stops_at_once_with_the_sigint_exit_code() -> None:
    process = fit_in_epoch_2()
    try:
        process.send_signal(signal.SIGINT)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
    finally:
        process.kill()

    assert process.returncode == 130
    assert "Traceback" not in err
