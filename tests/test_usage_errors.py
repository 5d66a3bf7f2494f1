"""A command line the commands cannot use is refused in one ``error:`` line, exit status 2: the
option or class at fault, why, and what was probably meant, not the usage and jsonargparse's report."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import cli


@pytest.mark.parametrize(
    ("arguments", "line"),
    [
        (
            ["--trainer.max_epoch", "3"],
            "unknown option --trainer.max_epoch (did you mean --trainer.max_epochs?)",
        ),
        (
            ["--model.model", "torchvision.models.resnet81"],
            "--model.model: no torchvision.models.resnet81 (did you mean torchvision.models.resnet18?)",
        ),
        (
            ["--data", "lit_classifier.ImageFolderDatamodule"],
            "--data: no lit_classifier.ImageFolderDatamodule"
            " (did you mean lit_classifier.ImageFolderDataModule?)",
        ),
        (["--config", "configs/nosuch.yaml"], "--config: no file configs/nosuch.yaml"),
        (["--model.lr", "0.1"], "unknown option --model.lr (did you mean --model.optimizer.lr?)"),
        (
            ["--model.model.widht", "16"],
            "unknown option --model.model.widht (did you mean --model.model.width?)",
        ),
        (
            ["--model.optimizer", "torch.optim.Adamw"],
            "--model.optimizer: no torch.optim.Adamw (did you mean torch.optim.AdamW?)",
        ),
        (["--trainer.max_epochs", "three"], "--trainer.max_epochs: 'three' is not an int"),
        (["--model.optimizer.lr", "fast"], "--model.optimizer.lr: 'fast' is not a float"),
        (["--model", "torch.nn.Linear"], "--model: torch.nn.Linear is not a ClassifierModule"),
        (
            ["--model.model", "resnet18"],
            "--model.model: resnet18 is not the name of a class it knows: give its class path "
            "(did you mean torchvision.models.resnet18?)",
        ),
        (["--data.flip", "true"], "unknown option --data.flip (did you mean --data.augment.flip?)"),
        (
            ["--data", "CIFAR10DataModule", "--data.crop_padding", "4"],
            "unknown option --data.crop_padding (did you mean --data.augment.crop_padding?)",
        ),
        (
            ["--data.data_dir", "x"],
            "unknown option --data.data_dir"
            " (lit-classifier fit --data.help lit_classifier.DigitsDataModule lists them)",
        ),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, list) else None,
)
def test_a_bad_command_line_is_one_line_naming_the_option(
    arguments: list[str], line: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.argv", ["lit-classifier"])  # the command's name, as the console script has it

    with pytest.raises(SystemExit) as exit_info:
        cli("fit", *arguments)

    assert exit_info.value.code == 2
    assert capsys.readouterr().err == f"error: {line}\n"


def test_a_misspelt_config_file_or_key_is_named_with_the_closest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "mnist.yaml").write_text("trainer:\n  max_epoch: 3\n")

    for config in ("configs/mnst.yaml", "configs/mnist.yaml"):
        with pytest.raises(SystemExit) as exit_info:
            cli("fit", "--config", config)
        assert exit_info.value.code == 2

    assert capsys.readouterr().err.splitlines() == [
        "error: --config: no file configs/mnst.yaml (did you mean configs/mnist.yaml?)",
        "error: unknown option trainer.max_epoch in a config file (did you mean trainer.max_epochs?)",
    ]


def test_an_unknown_subcommand_is_named_with_the_closest(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli("fitt")

    assert exit_info.value.code == 2
    assert capsys.readouterr().err == (
        "error: unknown subcommand 'fitt': one of fit, validate, test, predict, serve (did you mean fit?)\n"
    )


def test_jsonargparse_debug_raises_its_whole_report(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JSONARGPARSE_DEBUG", "true")

    with pytest.raises(Exception, match="Does not validate against any of the Union subtypes"):
        cli("fit", "--model.model", "torchvision.models.resnet81")
