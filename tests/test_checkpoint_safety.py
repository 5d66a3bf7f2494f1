"""Checkpoint files are never half-written, and a file that would run code is never loaded."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import lightning as L
import pytest
import torch
from torch import nn

from helpers import FAST, cli, run_dir
from lit_classifier import export, train_model
from lit_classifier.checkpoints.io import AtomicCheckpointIO, load_checkpoint_file
from lit_classifier.command import plot as plot_command
from lit_classifier.errors import CheckpointError

# A `fit` whose second checkpoint write stops half-way and hangs, as if the machine died there.
# The hook lives here, in the test, not in the package.
HANGING_SECOND_LAST_SAVE = textwrap.dedent(
    """
    import io, sys, time, torch
    from lit_classifier.command.cli import main

    real_save, saves = torch.save, []

    def save(obj, file, *args, **kwargs):
        if "epoch=" in getattr(file, "name", ""):  # the run's own checkpoints, not best.ckpt
            saves.append(file.name)
        if len(saves) < 2:
            return real_save(obj, file, *args, **kwargs)
        buffer = io.BytesIO()
        real_save(obj, buffer)
        file.write(buffer.getvalue()[: len(buffer.getvalue()) // 2])
        file.flush()
        print("HALF-WRITTEN", flush=True)
        time.sleep(120)

    torch.save = save
    main(sys.argv[1:])
    """
)


class Payload:
    """Unpickling this creates the file ``marker``: a stand-in for any code an attacker could run."""

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (exec, ("open('marker', 'w').close()",))


def test_killed_while_writing_leaves_the_previous_last_checkpoint_intact(tmp_path: Path) -> None:
    args = ["fit", "--trainer.limit_train_batches=2", "--trainer.limit_val_batches=1"]
    args += ["--trainer.max_epochs=3", "--plots.enabled=false"]
    process = subprocess.Popen(
        [sys.executable, "-c", HANGING_SECOND_LAST_SAVE, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert any("HALF-WRITTEN" in line for line in process.stdout)  # stops reading at the marker
        process.send_signal(signal.SIGKILL)
    finally:
        process.kill()  # a no-op after the SIGKILL; stops the process if an assertion failed
        process.wait(timeout=60)

    folder = tmp_path / "runs" / "lightning_logs" / "version_0" / "checkpoints"
    stray = [path.name for path in folder.iterdir() if ".tmp-" in path.name]
    owner = [name.rsplit("-", 1)[0] for name in stray]  # without the random part of the name
    assert owner == [f".epoch=1-step=4.ckpt.tmp-{process.pid}"]  # the kill did land mid-write
    checkpoint = torch.load(folder / "last.ckpt", weights_only=True)
    assert checkpoint["epoch"] == 0  # still the complete file of epoch 1
    assert checkpoint["global_step"] == 2


def test_atomic_save_writes_the_whole_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "checkpoints" / "last.ckpt"
    io = AtomicCheckpointIO()

    written = {"state_dict": {}, "pytorch-lightning_version": L.__version__}
    io.save_checkpoint({**written, "step": torch.tensor(1)}, target)
    io.save_checkpoint({**written, "step": torch.tensor(2)}, target)

    assert os.listdir(target.parent) == ["last.ckpt"]
    assert io.load_checkpoint(target, weights_only=True)["step"] == 2


def test_checkpoint_that_would_run_code_is_refused_and_the_code_does_not_run(
    capsys: pytest.CaptureFixture[str],
) -> None:
    planted = Path("planted.ckpt")
    torch.save({"state_dict": {}, "hyper_parameters": {"x": Payload()}}, planted)

    with pytest.raises(SystemExit) as exit_info:
        cli("validate", f"--ckpt_path={planted}")

    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert f"error: refused to load {planted}: it holds pickled objects other than plain data" in err
    assert "--weights_only false" in err
    assert not Path("marker").exists()


def test_truncated_checkpoint_is_named_as_such(capsys: pytest.CaptureFixture[str]) -> None:
    complete = run_dir(cli("fit", *FAST)) / "checkpoints" / "last.ckpt"
    truncated = Path("truncated.ckpt")
    truncated.write_bytes(complete.read_bytes()[:1000])

    with pytest.raises(SystemExit) as exit_info:
        cli("test", f"--ckpt_path={truncated}")

    assert exit_info.value.code == 2
    message = f"error: {truncated} is not a PyTorch checkpoint: it is a truncated or damaged zip archive"
    assert message in capsys.readouterr().err


def test_python_loader_refuses_the_payload_too() -> None:
    planted = Path("planted.ckpt")
    torch.save({"payload": Payload()}, planted)

    with pytest.raises(CheckpointError, match=r"refused to load planted\.ckpt"):
        load_checkpoint_file(planted)
    assert not Path("marker").exists()


@pytest.mark.parametrize(
    "command",
    [
        lambda checkpoint: export.main([str(checkpoint), "model.onnx"]),
        lambda checkpoint: plot_command.main([str(checkpoint.parent.parent)]),
    ],
    ids=["export", "plot"],
)
def test_export_and_plot_commands_refuse_the_payload_with_one_error_line(
    command: Callable[[Path], None], capsys: pytest.CaptureFixture[str]
) -> None:
    planted = Path("run/checkpoints/last.ckpt")
    planted.parent.mkdir(parents=True)
    torch.save({"state_dict": {}, "hyper_parameters": {"x": Payload()}}, planted)

    with pytest.raises(SystemExit) as exit_info:
        command(planted)

    assert exit_info.value.code == 2
    assert f"error: refused to load {planted}: it holds pickled objects" in capsys.readouterr().err
    assert not Path("marker").exists()
    assert not Path("model.onnx").exists()


def test_command_and_train_model_write_checkpoints_atomically() -> None:
    fitted = cli("fit", "--trainer.fast_dev_run=true", "--plots.enabled=false")
    result = train_model(nn.Sequential(nn.Flatten(), nn.Linear(64, 10)), epochs=1, limit_train_batches=1)

    assert isinstance(fitted.trainer.strategy.checkpoint_io, AtomicCheckpointIO)
    assert result.trainer is not None
    assert isinstance(result.trainer.strategy.checkpoint_io, AtomicCheckpointIO)
