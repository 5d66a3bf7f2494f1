"""``serve`` is one of the command's subcommands to whoever reads its help or mistypes one: listed
and described with the others, suggested for a near miss, and described atop its own help."""

from __future__ import annotations

import re

import pytest

from lit_classifier.command.cli import main, run
from lit_classifier.command.help import SUBCOMMANDS


def output_of(capsys: pytest.CaptureFixture[str], *args: str, code: int = 0) -> str:
    """What ``lit-classifier ARGS`` printed (standard output, then standard error), exiting ``code``."""
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    assert exit_info.value.code == code
    printed = capsys.readouterr()
    return printed.out + printed.err


def test_top_level_help_lists_serve_with_its_description(capsys: pytest.CaptureFixture[str]) -> None:
    listed = output_of(capsys, "--help").split("Available subcommands:")[1]

    names = re.findall(r"^    (\w+) ", listed, re.MULTILINE)
    assert names == ["fit", "validate", "test", "predict", "serve"]
    assert " ".join(listed.split("\n    serve")[1].split()) == SUBCOMMANDS["serve"]


@pytest.mark.parametrize(("given", "meant"), [("fitt", "fit"), ("serv", "serve"), ("srve", "serve")])
def test_an_unknown_subcommand_names_serve_among_the_others(
    capsys: pytest.CaptureFixture[str], given: str, meant: str
) -> None:
    assert output_of(capsys, given, code=2) == (
        f"error: unknown subcommand '{given}': one of fit, validate, test, predict, serve"
        f" (did you mean {meant}?)\n"
    )


def test_serve_help_has_its_own_title_and_a_one_line_usage(capsys: pytest.CaptureFixture[str]) -> None:
    text = output_of(capsys, "serve", "--help")

    usage, description = text.split("\n\n")[:2]
    assert usage == "usage: lit-classifier serve --ckpt_path CKPT [options]"
    assert " ".join(description.split()).startswith(SUBCOMMANDS["serve"] + " Clients POST an image")
    assert "Lightning Trainer" not in text
    assert "\n  --ckpt_path CKPT_PATH" in text and "\n  --max_batch_size " in text


def test_serve_through_the_in_process_runner_is_refused_in_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``run`` builds a Trainer command; ``serve`` runs a server, which only ``main`` starts."""
    with pytest.raises(SystemExit) as exit_info:
        run(["serve", "--ckpt_path=model.ckpt"])

    assert exit_info.value.code == 2
    assert capsys.readouterr().err == (
        "error: serve is no Trainer command: run it as lit-classifier serve (cli.main), not cli.run\n"
    )
