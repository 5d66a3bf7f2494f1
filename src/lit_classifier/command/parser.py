"""The command line's argument parser: every class chosen gets its own defaults, and no option is guessed.

Two jsonargparse behaviours surprise users of a command with defaults for its classes:

- When a value chooses another class (``--data MNISTDataModule`` over the default digits), the
  arguments of the class it replaces are carried over wherever the new class has an argument of the
  same name, so MNIST would train, unannounced, with the digits' ``batch_size: 64`` and
  ``val_fraction: 0.15`` (and ``--model.optimizer torch.optim.AdamW`` with SGD's ``lr: 0.05``).
  The defaults here name the default classes only; their arguments are filled in for whichever
  class ends up chosen, after the command line and config files are read.
- ``--trainer.max_epoch 3`` would be taken as ``--trainer.max_epochs`` (argparse's prefix
  matching); a misspelt option is refused instead, in one line that says what was probably meant
  (``parse_errors``), not under the command's whole usage.

Its help is shaped in ``lit_classifier.command.help``.
"""

from __future__ import annotations

import inspect
import os
import sys
from collections.abc import Iterable
from typing import Any, NamedTuple, NoReturn

from jsonargparse import ArgumentParser, Namespace
from lightning.pytorch.cli import LightningArgumentParser

from lit_classifier.command import help
from lit_classifier.command.parse_errors import one_line
from lit_classifier.errors import InputError
from lit_classifier.framework import option_strings
from lit_classifier.specs import is_class_spec, minimal_spec


class ClassifierParser(LightningArgumentParser):
    """``LightningArgumentParser`` without abbreviations, whose class defaults carry no arguments
    that the class's own signature does not already give them."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        kwargs.setdefault("formatter_class", help.HelpFormatter)
        super().__init__(*args, **kwargs)

    def add_subcommands(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("action", help.Subcommands)
        self.subcommands = super().add_subcommands(*args, **kwargs)
        return self.subcommands

    def add_serve_subcommand(self) -> None:
        """List ``serve`` with the Trainer's subcommands, in the help and in the error that names them
        all; ``cli.main`` runs it with its own parser (``lit_classifier.serving.command``)."""
        self.subcommands.add_subcommand("serve", ServePlaceholder(), help=help.SUBCOMMANDS["serve"])

    def parse_args(self, args: Iterable[str] | None = None, *rest: Any, **kwargs: Any) -> Any:
        args = None if args is None else list(args)
        with help.nested_help(args):
            return super().parse_args(args, *rest, **kwargs)

    def add_class_arguments(
        self, theclass: Any, nested_key: str | None = None, *args: Any, **kwargs: Any
    ) -> Any:
        key = help.nested_key(nested_key, self.description)
        if key != nested_key and self.description:
            self.description = self.description.replace(f"--{nested_key}.help", f"--{key}.help")
        return super().add_class_arguments(theclass, key, *args, **kwargs)

    def error(self, message: str, ex: Exception | None = None) -> NoReturn:
        """One ``error:`` line naming the option at fault (``parse_errors``), exit status 2, instead of
        the usage and jsonargparse's report; ``JSONARGPARSE_DEBUG=true`` raises the report instead."""
        if not self.exit_on_error or os.environ.get("JSONARGPARSE_DEBUG", "").lower() == "true":
            super().error(message, ex)  # an inner parser's error, for the command's parser to report
        parser = getattr(ex, "subcommand_parser", None) or self
        print(
            f"error: {one_line(message, option_strings(parser), parser.prog.replace(' [options]', ''))}",
            file=sys.stderr,
        )
        self.exit(2)

    def format_help(self, *args: Any, **kwargs: Any) -> str:
        text = super().format_help(*args, **kwargs)
        return help.with_default_classes(text, self) if self.usage == help.SUBCOMMAND_USAGE else text

    def add_method_arguments(self, theclass: Any, themethod: str, *args: Any, **kwargs: Any) -> list[str]:
        """A Trainer method's arguments, with what this command does with two of them."""
        parameters = inspect.signature(getattr(theclass, themethod)).parameters
        own = [name for name in ("ckpt_path", "weights_only") if name in parameters]
        kwargs["skip"] = {*(kwargs.get("skip") or ()), *own}
        added = super().add_method_arguments(theclass, themethod, *args, **kwargs)
        if "ckpt_path" in own:
            self.add_argument("--ckpt_path", type=str | None, default=None, help=CKPT_PATH_HELP)
        if "weights_only" in own:
            help = "Read checkpoints as plain data only; false only for a file you trust."
            self.add_argument("--weights_only", type=bool, default=True, help=help)
        return [*added, *own]

    def get_defaults(self, skip_validation: bool = False, **kwargs: Any) -> Namespace:
        defaults = super().get_defaults(skip_validation=skip_validation, **kwargs)
        for key, value in list(defaults.items(branches=True)):
            if is_class_spec(value):
                defaults[key] = minimal_spec(value)
        return defaults


class ServePlaceholder(ArgumentParser):
    """``serve`` among the subcommands of the Trainer's parser: ``cli.main`` hands ``lit-classifier
    serve`` to its own parser before this one sees it, so only ``cli.run(["serve", ...])`` gets here."""

    def parse_args(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise InputError(
            "serve is no Trainer command: run it as lit-classifier serve (cli.main), not cli.run"
        )


class Defaults(NamedTuple):
    """The class paths a command uses when none is given."""

    network: str
    data: str


DEFAULTS = Defaults(network="lit_classifier.models.SmallCNN", data="lit_classifier.DigitsDataModule")


def add_command_options(parser: LightningArgumentParser) -> None:
    """The default network and data, every run's callbacks, and the modules a checkpoint may name."""
    from lit_classifier.callbacks import CALLBACKS

    model = {
        "class_path": "lit_classifier.ClassifierModule",
        "init_args": {"model": {"class_path": DEFAULTS.network}},
    }
    parser.set_defaults({"model": model, "data": {"class_path": DEFAULTS.data}})
    for key, callback in CALLBACKS.items():  # each configurable: --checkpoint.every_n_epochs 2
        parser.add_lightning_class_args(callback, key)
    help = "Modules whose network and data module classes a checkpoint may name (e.g. [my_package])."
    parser.add_argument("--trusted_modules", type=list[str], default=[], help=help)


DESCRIPTION = """Train and use image classifiers with PyTorch Lightning.

`lit-classifier SUBCOMMAND --help` lists a subcommand's options; `--model.help CLASS` and
`--data.help CLASS` list a network's, module's or data module's own. Related commands:
lit-classifier-lr-find (the options of fit: a learning-rate range test), lit-classifier-plot RUN_DIR
(draw a run's pictures again), python -m lit_classifier.export CHECKPOINT model.onnx|model.pt2,
lit-classifier-sweep --config SWEEP.yaml (search options of fit with Optuna), lit-classifier-optimize
(write a data module's splits as streaming chunks)."""
CKPT_PATH_HELP = (
    "A checkpoint to start from: a file, or `last` (the newest last.ckpt or interrupted.ckpt of the "
    "runs in this folder; fit resumes it). Its network and data module are used unless this command "
    "names others."
)
