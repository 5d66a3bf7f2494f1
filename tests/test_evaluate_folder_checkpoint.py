"""``test --ckpt_path`` on a checkpoint trained on an image folder: the data module it evaluates is
the checkpoint's unless the command names one, and a folder without ``test/`` says what it tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from data_files import write_image_folder
from helpers import FAST, cli, run_dir
from lit_classifier import DigitsDataModule, ImageFolderDataModule
from lit_classifier.command.resume import names_data_module

# Ten classes named like the digits' and images of their size, so that the network fits both sets.
DIGIT_NAMES = tuple(str(digit) for digit in range(10))
FOLDER = ["--data=lit_classifier.ImageFolderDataModule", "--data.image_size=8", "--data.batch_size=4"]
FOLDER += ["--data.num_workers=0"]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A short fit on a folder of class folders (no train/, val/ or test/ in it)."""
    folder = tmp_path_factory.mktemp("folder_fit")
    photos = write_image_folder(folder / "photos", classes=DIGIT_NAMES, per_class=2)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        fit = cli("fit", *FOLDER, f"--data.root={photos}", *FAST, "--plots.enabled=false")
        yield (run_dir(fit) / "checkpoints" / "last.ckpt").resolve()


def test_a_folder_without_test_says_that_test_evaluates_its_validation_images(
    checkpoint: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tested = cli("test", f"--ckpt_path={checkpoint}")

    assert isinstance(tested.datamodule, ImageFolderDataModule)
    root = tested.datamodule.root
    assert f"{root} has no test/ folder: test evaluates the 4 validation images" in capsys.readouterr().out


def test_a_data_module_named_on_the_command_line_wins_over_the_checkpoints(
    checkpoint: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tested = cli("test", f"--ckpt_path={checkpoint}", "--data", "DigitsDataModule", "--data.to_rgb", "true")

    assert isinstance(tested.datamodule, DigitsDataModule) and tested.datamodule.dims == (3, 8, 8)
    assert "test_acc" in tested.trainer.callback_metrics
    assert "no test/ folder" not in capsys.readouterr().out


def test_data_options_alone_go_to_the_checkpoints_data_module(checkpoint: Path) -> None:
    tested = cli("test", f"--ckpt_path={checkpoint}", "--data.batch_size=3")

    assert isinstance(tested.datamodule, ImageFolderDataModule) and tested.datamodule.batch_size == 3


def test_a_data_module_is_named_by_class_or_by_a_config_that_gives_one(tmp_path: Path) -> None:
    (tmp_path / "digits.yaml").write_text("data:\n  class_path: lit_classifier.DigitsDataModule\n")
    (tmp_path / "options.yaml").write_text("data:\n  init_args:\n    batch_size: 8\n")
    (tmp_path / "by_command.yaml").write_text("test:\n  data: DigitsDataModule\n")

    named = [
        ["test", "--data", "DigitsDataModule"],
        ["test", "--data=lit_classifier.DigitsDataModule"],
        ["test", "--config", str(tmp_path / "digits.yaml")],
        ["-c", str(tmp_path / "by_command.yaml"), "test"],
        ["test", "--data", '{"class_path": "DigitsDataModule"}'],
    ]
    unnamed = [
        ["test"],
        ["test", "--data.batch_size", "8"],
        ["test", "--data.init_args.to_rgb=true"],
        ["test", "--config", str(tmp_path / "options.yaml")],
        ["test", "--data", '{"init_args": {"batch_size": 8}}'],
    ]
    assert [names_data_module(args) for args in named] == [True] * len(named)
    assert [names_data_module(args) for args in unnamed] == [False] * len(unnamed)
