"""``lit-classifier-lr-find``: Lightning's learning-rate finder on any ``lit-classifier`` config.

It takes the same options as ``lit-classifier fit`` (``--config``, ``--model.*``, ``--data.*``,
``--trainer.*``), trains for ``--lr_find.num_training`` steps while raising the learning rate from
``min_lr`` to ``max_lr``, and writes ``lr_find.png`` (loss against learning rate, the suggestion
marked) and ``lr_find.json`` (the suggested rate) into a run folder::

    lit-classifier-lr-find --config configs/digits.yaml
    lit-classifier fit --config configs/digits.yaml --model.lr 0.02     # the rate it suggested

The suggestion is the rate where the loss falls fastest; it is a starting point to check with a
short run, not a guarantee. The finder overrides the optimizer's rate directly, so it works for any
``--model.optimizer``; for the default SGD the suggestion is ``--model.lr``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from lightning.pytorch.cli import ArgsType, LightningArgumentParser
from lightning.pytorch.tuner import Tuner
from matplotlib.figure import Figure

from lit_classifier.cli import ClassifierCLI, run

PNG = "lr_find.png"
JSON = "lr_find.json"


@dataclass
class LRFindOptions:
    """The range test (``--lr_find.*``).

    Args:
        min_lr: first learning rate tried.
        max_lr: last learning rate tried.
        num_training: training steps, one learning rate each (100: Lightning's default).
        mode: ``exponential`` or ``linear`` spacing of the rates.
    """

    min_lr: float = 1e-6
    max_lr: float = 1.0
    num_training: int = 100
    mode: str = "exponential"


class LRFindCLI(ClassifierCLI):
    """``lit-classifier fit``'s options plus ``--lr_find.*``."""

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        super().add_arguments_to_parser(parser)
        parser.add_class_arguments(LRFindOptions, "lr_find")


def find_lr(args: ArgsType = None) -> dict[str, object]:
    """Run the finder as the command line would; returns what ``lr_find.json`` holds."""
    cli = run(args, cli_class=LRFindCLI, subcommands=False)
    options: LRFindOptions = cli.config_init["lr_find"]
    if options.mode not in ("exponential", "linear"):
        raise ValueError(f"--lr_find.mode must be 'exponential' or 'linear', got {options.mode!r}")
    finder = Tuner(cli.trainer).lr_find(
        cli.model, datamodule=cli.datamodule, update_attr=False, **asdict(options)
    )
    if finder is None:
        raise RuntimeError("the learning-rate finder did not run: it skips `--trainer.fast_dev_run`")
    suggestion = finder.suggestion()
    folder = Path(cli.trainer.log_dir or ".")
    folder.mkdir(parents=True, exist_ok=True)
    figure = Figure(figsize=(7, 4.5), layout="constrained")
    axes = figure.subplots()
    finder.plot(suggest=suggestion is not None, ax=axes)
    axes.set_title(f"learning-rate range test: suggested lr {suggestion:.3g}" if suggestion else "")
    figure.savefig(folder / PNG, dpi=100)
    result: dict[str, object] = {
        "suggested_lr": suggestion,
        **asdict(options),
        "lr": finder.results["lr"],
        "loss": finder.results["loss"],
    }
    (folder / JSON).write_text(json.dumps(result, indent=2) + "\n")
    if suggestion is None:
        print(f"no suggestion (too few steps for a slope); the curve is in {folder / PNG}")
    else:
        print(f"suggested learning rate {suggestion:.3g}: pass --model.lr {suggestion:.3g}")
    print(f"wrote {folder / PNG} and {folder / JSON}")
    return result


def main(args: ArgsType = None) -> None:
    """Entry point of ``lit-classifier-lr-find``."""
    find_lr(args)
