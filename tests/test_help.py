"""The command line explains itself: short, whole-sentence help; the version; no guessed options."""

from __future__ import annotations

import inspect

import pytest

from helpers import cli
from lit_classifier.callbacks import DEFAULT_CALLBACKS
from lit_classifier.module import ClassifierModule


def help_of(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    with pytest.raises(SystemExit) as exit_info:
        cli(*args)
    assert exit_info.value.code == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("cls", [ClassifierModule, *DEFAULT_CALLBACKS.values()], ids=lambda c: c.__name__)
def test_each_option_group_is_headed_by_a_whole_sentence(cls: type) -> None:
    first_line = (inspect.getdoc(cls) or "").splitlines()[0]

    assert first_line.endswith("."), f"{cls.__name__}'s help heading is cut: {first_line!r}"


def test_top_level_help_names_the_other_commands_and_the_version(capsys: pytest.CaptureFixture[str]) -> None:
    text = help_of(capsys, "--help")

    assert "lit-classifier-lr-find" in text and "lit-classifier-plot" in text
    assert "lit_classifier.export" in text
    assert help_of(capsys, "--version").startswith("lit-classifier ")


def test_network_help_lists_the_packages_networks_not_every_torch_module(
    capsys: pytest.CaptureFixture[str],
) -> None:
    text = help_of(capsys, "fit", "--model.help", "ClassifierModule")

    assert len(text.splitlines()) < 100
    assert "lit_classifier.models.SmallCNN" in text
    assert "torch.nn.Tanhshrink" not in text


def test_checkpoint_options_say_what_they_do(capsys: pytest.CaptureFixture[str]) -> None:
    text = " ".join(help_of(capsys, "predict", "--help").split())

    assert "`last` (the newest last.ckpt or interrupted.ckpt" in text
    assert "Read checkpoints as plain data only; false only for a file you trust." in text
    assert "(type: bool, default: True)" in text


def test_a_misspelt_option_is_refused_not_guessed(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli("fit", "--trainer.max_epoch=3")

    assert exit_info.value.code == 2
    assert "--trainer.max_epoch=3" in capsys.readouterr().err
