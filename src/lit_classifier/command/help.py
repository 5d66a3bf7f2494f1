"""The commands' help: whole-sentence descriptions, the default classes' options, short class lists.

What jsonargparse and LightningCLI give a command like this one, and what is done about it:

- each subcommand is described by the first line of the Trainer method's docstring, cut mid-sentence
  ("...to make sure you never run on your"): ``SUBCOMMANDS`` describes them instead;
- ``fit --help`` lists every option twice (a usage block of 90 lines, then the options), and the
  options of the model and the data module only as ``--model.help CLASS``: the usage is one line,
  and the options of the default classes (``--model.optimizer.lr``, ``--model.model.width``,
  ``--data.batch_size``, ...) follow the model and data options, ahead of the Trainer's;
- a type's "known subclasses" name every imported class (812 ``nn.Module`` subclasses once
  torchvision is imported): a long list keeps this package's networks and counts the rest;
- the help of a class nested in another (``--model.model.help TimmModel``) names its options one
  level too high (``--model.name``): the level the user asked for is put back (``nested_help``).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from jsonargparse import ActionSubCommands, ArgumentParser

from lit_classifier.framework import HelpTextFormatter

#: Each subcommand's description, in the top-level help and atop its own.
SUBCOMMANDS = {
    "fit": "Train a network (by default 8 epochs of SmallCNN on the embedded digits), or resume a run.",
    "validate": "Evaluate a checkpoint on the validation split.",
    "test": "Evaluate a checkpoint on the test split.",
    "predict": "Classify images with a checkpoint, writing predictions.csv into the run folder.",
    "serve": "Answer HTTP requests with a checkpoint's predictions, through LitServe.",
}
#: The usage line of each subcommand; its help lists the options once, below it.
SUBCOMMAND_USAGE = "%(prog)s [options]"
#: A "known subclasses" list longer than this keeps only this package's networks, and a count.
LONGEST_LIST = 30
#: The options of these classes, the command's defaults, are part of each subcommand's help:
#: (where they go, the class, its arguments to leave out, the heading).
DEFAULT_CLASSES = (
    ("model", "lit_classifier.ClassifierModule", (), "The model, lit_classifier.ClassifierModule"),
    (
        "model.model",
        "lit_classifier.models.SmallCNN",
        (),
        "The default network (--model.model CLASS for another)",
    ),
    (
        "model.optimizer",
        "lit_classifier.optim.RecipeSGD",
        ("params",),
        "The default optimizer (--model.optimizer CLASS for another, such as torch.optim.AdamW)",
    ),
    ("data", "lit_classifier.DigitsDataModule", (), "The default data (--data CLASS for another)"),
)

_nested_help: ContextVar[tuple[str, ...]] = ContextVar("nested_help", default=())


class HelpFormatter(HelpTextFormatter):
    """jsonargparse's formatter, with long lists of known subclasses shortened."""

    def help_text(self, action: Any, text: str) -> str:
        return shorten_subclass_list(text)


def shorten_subclass_list(text: str) -> str:
    """``text`` with a ``known subclasses: a, b, ...`` list of more than ``LONGEST_LIST`` names
    reduced to this package's networks and a count of the others."""
    found = re.search(r"known subclasses: ([^)]*)", text)
    names = found.group(1).split(", ") if found else []
    if found is None or len(names) <= LONGEST_LIST:
        return text
    own = [name for name in names if re.fullmatch(r"lit_classifier\.models\.\w+", name)]
    listed = f"{', '.join(own)} and {len(names) - len(own)} others" if own else f"{len(names)} classes"
    return text[: found.start(1)] + f"{listed}, by class path" + text[found.end(1) :]


class Subcommands(ActionSubCommands):
    """Subcommands described by ``SUBCOMMANDS``, each with a one-line usage."""

    def add_subcommand(self, name: str, parser: ArgumentParser, **kwargs: Any) -> ArgumentParser:
        kwargs["help"] = parser.description = SUBCOMMANDS.get(name, kwargs.get("help"))
        parser.usage = SUBCOMMAND_USAGE
        return super().add_subcommand(name, parser, **kwargs)


def with_default_classes(text: str, parser: ArgumentParser) -> str:
    """A subcommand's help ``text``, its model and data options first, then the default classes'."""
    sections = re.split(r"\n\n(?=\S)", text.rstrip("\n"))
    chosen = [section for section in sections if re.search(r"^  --(model|data) CONFIG", section, re.M)]
    rest = [section for section in sections if section not in chosen]
    after = next((n + 1 for n, section in enumerate(rest) if section.startswith("options:")), len(rest))
    defaults = [section for spec in DEFAULT_CLASSES for section in class_sections(type(parser), *spec)]
    return "\n\n".join(rest[:after] + chosen + defaults + rest[after:]) + "\n"


def class_sections(
    parser_class: type[ArgumentParser], key: str, class_path: str, skip: Sequence[str], heading: str
) -> list[str]:
    """The help sections of ``class_path``'s options under ``key``, the first headed ``heading``."""
    from lit_classifier.specs import resolve  # imported when help is shown: it imports torch

    parser = parser_class(formatter_class=HelpFormatter)
    parser.add_class_arguments(resolve(class_path), key, skip=set(skip), fail_untyped=False, sub_configs=True)
    # Without the group's own --KEY CONFIG line: the command's --model and --data take a config too.
    text = re.sub(r"\n  --[\w.]+ CONFIG\s+Path to a configuration file\.", "", parser.format_help())
    sections = re.split(r"\n\n(?=\S)", text.rstrip("\n"))
    groups = [section for section in sections if "\n  --" in section and not section.startswith("options:")]
    return [f"{heading}:" + groups[0][groups[0].index("\n") :], *groups[1:]] if groups else []


@contextmanager
def nested_help(args: Sequence[str] | None) -> Iterator[None]:
    """Remember, while ``args`` are parsed, which nested ``--a.b.help`` options they hold."""
    given = sys.argv[1:] if args is None else args
    options = tuple(
        re.sub(r"\.help(=.*)?$", "", arg)[2:] for arg in given if re.match(r"--\w+\.[\w.]+\.help", arg)
    )
    token = _nested_help.set(options or _nested_help.get())
    try:
        yield
    finally:
        _nested_help.reset(token)


def nested_key(key: str | None, description: str | None) -> str | None:
    """Where the options of a help parser for ``key`` belong: jsonargparse builds the help of
    ``--model.model.help CLASS`` with ``key`` ``model`` (described "Help for --model.help=...");
    the ``--model.model.help`` option given on the command line says the rest."""
    if not key or not (description or "").startswith(f"Help for --{key}.help="):
        return key
    return next((asked for asked in _nested_help.get() if asked.endswith(f".{key}")), key)
