"""The command line explains itself: whole-sentence help that shows the options of the default classes;
the version; no guessed options."""

from __future__ import annotations

import inspect
import re

import pytest

from helpers import cli
from lit_classifier import export
from lit_classifier.callbacks import CALLBACKS
from lit_classifier.command.help import SUBCOMMANDS
from lit_classifier.module import ClassifierModule


def help_of(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    with pytest.raises(SystemExit) as exit_info:
        cli(*args)
    assert exit_info.value.code == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("cls", [ClassifierModule, *CALLBACKS.values()], ids=lambda c: c.__name__)
def test_each_option_group_is_headed_by_a_whole_sentence(cls: type) -> None:
    first_line = (inspect.getdoc(cls) or "").splitlines()[0]

    assert first_line.endswith("."), f"{cls.__name__}'s help heading is cut: {first_line!r}"


def test_top_level_help_names_the_other_commands_and_the_version(capsys: pytest.CaptureFixture[str]) -> None:
    text = help_of(capsys, "--help")

    assert "lit-classifier-lr-find" in text and "lit-classifier-plot" in text
    assert "lit_classifier.export" in text
    assert help_of(capsys, "--version").startswith("lit-classifier ")


def test_top_level_help_describes_each_subcommand_in_a_whole_sentence(
    capsys: pytest.CaptureFixture[str],
) -> None:
    listed = help_of(capsys, "--help").split("Available subcommands:")[1]

    descriptions = re.split(r"\n    (?:fit|validate|test|predict) +", listed)[1:]
    assert len(descriptions) == 4
    assert all(" ".join(text.split()).endswith(".") for text in descriptions), descriptions
    assert " ".join(descriptions[2].split()) == SUBCOMMANDS["test"]


def test_fit_help_shows_the_options_of_the_default_model_optimizer_and_data_first(
    capsys: pytest.CaptureFixture[str],
) -> None:
    text = help_of(capsys, "fit", "--help")

    lines = text.splitlines()
    assert re.fullmatch(r"usage: \S+ \[options\] fit \[options\]", lines[0])  # the options are listed below
    for option in (
        "--model.label_smoothing",
        "--model.optimizer.lr",
        "--model.model.width",
        "--data.batch_size",
    ):
        assert f"\n  {option} " in text, option
    assert text.index("--data.batch_size") < text.index("--trainer.max_epochs")
    headings = [line for line in lines if re.match(r"\S.*:$", line)]
    assert not [heading for heading in headings if "docstring" in heading], headings


def test_help_of_a_nested_class_names_its_options_at_their_level(capsys: pytest.CaptureFixture[str]) -> None:
    text = help_of(capsys, "fit", "--model.model.help", "lit_classifier.models.TimmModel")

    assert "\n  --model.model.name NAME" in text and "--model.name" not in text
    shown = help_of(
        capsys,
        "fit",
        "--model.model=lit_classifier.models.TimmModel",
        "--model.model.name=resnet18",
        "--print_config",
    )
    assert "name: resnet18" in shown  # the option the help names is the one that works


def test_network_help_lists_the_packages_networks_not_every_torch_module(
    capsys: pytest.CaptureFixture[str],
) -> None:
    text = help_of(capsys, "fit", "--model.help", "ClassifierModule")

    assert len(text.splitlines()) < 120
    assert "lit_classifier.models.SmallCNN" in text
    assert "torch.nn.Tanhshrink" not in text
    assert "torch.optim.AdamW" in text  # a short list is kept whole
    assert "known subclasses:  and" not in " ".join(text.split())


def test_checkpoint_options_say_what_they_do(capsys: pytest.CaptureFixture[str]) -> None:
    text = " ".join(help_of(capsys, "predict", "--help").split())

    assert "`last` (the newest last.ckpt or interrupted.ckpt" in text
    assert "Read checkpoints as plain data only; false only for a file you trust." in text
    assert "(type: bool, default: True)" in text


def test_a_misspelt_option_is_refused_not_guessed(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli("fit", "--trainer.max_epoch=3")

    assert exit_info.value.code == 2
    assert (
        "unknown option --trainer.max_epoch (did you mean --trainer.max_epochs?)" in capsys.readouterr().err
    )


def test_the_export_command_names_itself_as_it_is_run(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        export.main(["--help"])

    assert capsys.readouterr().out.startswith("usage: python -m lit_classifier.export ")
