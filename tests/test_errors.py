"""Bad input gets one clear error naming what is wrong, before any work where it can.

Bad values, unknown keys and wrong types are covered in test_cli.py; these are the checkpoint errors.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from helpers import FAST, cli, run_dir
from lit_classifier import train_model
from lit_classifier.data.base import ClassificationDataModule
from lit_classifier.models import SmallCNN


class ThreeClassData(ClassificationDataModule):
    """Random 8x8 gray images of three classes: data the digits checkpoints were not made for."""

    @property
    def class_names(self) -> list[str]:
        return ["a", "b", "c"]

    @property
    def dims(self) -> tuple[int, int, int]:
        return (1, 8, 8)

    def default_num_workers(self) -> int:
        return 0

    def setup(self, stage: str | None = None) -> None:
        generator = torch.Generator().manual_seed(self.seed)
        images = torch.randn(24, 1, 8, 8, generator=generator)
        labels = torch.arange(24) % 3
        self.train_set = self.val_set = self.test_set = TensorDataset(images, labels)


@pytest.mark.parametrize("subcommand", ["fit", "validate", "predict"])
def test_missing_checkpoint_file_is_named_before_any_work(
    subcommand: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli(subcommand, "--ckpt_path=runs/no_such/last.ckpt")

    assert exit_info.value.code == 2
    output = capsys.readouterr()
    assert "error: checkpoint file not found: runs/no_such/last.ckpt" in output.err
    assert not Path("runs").exists()  # nothing was set up, no run folder was made


@pytest.mark.parametrize("subcommand", ["validate", "predict"])
def test_checkpoint_for_another_class_count_is_refused(
    subcommand: str, capsys: pytest.CaptureFixture[str]
) -> None:
    checkpoint = run_dir(cli("fit", *FAST)) / "checkpoints" / "last.ckpt"

    with pytest.raises(SystemExit) as exit_info:
        cli(subcommand, "--data=test_errors.ThreeClassData", f"--ckpt_path={checkpoint}")

    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    # The command takes the class count from the checkpoint's hyperparameters, then meets the data.
    assert f"error: {checkpoint}: the model was built for 10 classes but ThreeClassData has 3" in err


def test_ckpt_path_last_without_any_run_is_an_error_outside_fit(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli("validate", "--ckpt_path=last")

    assert exit_info.value.code == 2
    assert (
        "--ckpt_path last: no last.ckpt or interrupted.ckpt under runs/lightning_logs"
        in capsys.readouterr().err
    )


def test_ckpt_path_last_without_any_run_starts_a_new_fit(capsys: pytest.CaptureFixture[str]) -> None:
    result = cli("fit", *FAST, "--ckpt_path=last")

    assert result.trainer.current_epoch == 1
    assert "no checkpoint under runs/lightning_logs yet, so this is a new run" in capsys.readouterr().out


def test_missing_data_folder_is_one_line_naming_it(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli("fit", "--data=lit_classifier.data.ImageFolderDataModule", "--data.root=no_such_folder")

    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert f"error: image folder {Path('no_such_folder').resolve()} does not exist" in err
    assert "Traceback" not in err


def test_a_checkpoint_of_a_network_built_in_python_asks_for_the_network(
    capsys: pytest.CaptureFixture[str],
) -> None:
    network = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    result = train_model(network, epochs=1, limit_train_batches=1, limit_val_batches=1)
    checkpoint = Path(result.trainer.checkpoint_callback.last_model_path)

    with pytest.raises(SystemExit) as exit_info:
        cli("validate", f"--ckpt_path={checkpoint}")

    assert exit_info.value.code == 2
    assert (
        f"error: {checkpoint} does not say how its network torch.nn.modules.container.Sequential was "
        "built (it was built in Python): give it yourself, --model.model" in capsys.readouterr().err
    )


def test_a_checkpoint_of_the_default_network_built_in_python_is_evaluated_as_it_is() -> None:
    result = train_model(SmallCNN(), epochs=1, limit_train_batches=1)
    checkpoint = result.trainer.checkpoint_callback.last_model_path

    validated = cli("validate", f"--ckpt_path={checkpoint}").trainer

    assert float(validated.callback_metrics["val_acc"]) == pytest.approx(result.history[-1]["val_acc"])


def test_a_checkpoint_that_does_not_describe_its_network_asks_for_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    checkpoint = run_dir(cli("fit", *FAST)) / "checkpoints" / "last.ckpt"
    saved = torch.load(checkpoint, weights_only=True)
    del saved["hyper_parameters"]["model"]
    edited = tmp_path / "edited.ckpt"
    torch.save(saved, edited)

    with pytest.raises(SystemExit) as exit_info:
        cli("validate", f"--ckpt_path={edited}")

    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert f"error: {edited} does not describe its network: give it with --model.model" in err
