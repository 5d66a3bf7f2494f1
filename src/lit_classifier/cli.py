"""The ``lit-classifier`` command: LightningCLI with the digits data and the small CNN by default.

One device (CPU or GPU, whichever is there)::

    lit-classifier fit                                   # 8 epochs of SmallCNN on digits
    lit-classifier fit --config configs/digits.yaml --trainer.max_epochs 3
    lit-classifier test --ckpt_path runs/fit/version_0/checkpoints/last.ckpt
    lit-classifier predict --ckpt_path runs/fit/version_0/checkpoints/last.ckpt

Every option is an ``__init__`` argument of ``ClassifierModule`` (``--model.*``), of a data module
(``--data.*``) or of the Trainer (``--trainer.*``); ``--print_config`` shows them all resolved.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.cli import ArgsType, LightningArgumentParser, LightningCLI

from lit_classifier.callbacks import EpochSummary, PredictionWriter, ProgressBar, RunPlots
from lit_classifier.callbacks.interrupt import Interruption
from lit_classifier.callbacks.speed import SpeedOptions
from lit_classifier.checkpointing import (
    CheckpointError,
    check_ckpt_path,
    explain_load_error,
    find_last_checkpoint,
    use_atomic_checkpoints,
)
from lit_classifier.data.base import ClassificationDataModule
from lit_classifier.errors import InputError, exit_on_input_error
from lit_classifier.models.heads import ClassCountError
from lit_classifier.module import ClassifierModule
from lit_classifier.nonfinite import NonFiniteLossError

TRAINER_DEFAULTS = {
    "max_epochs": 8,  # the classic recipe's epoch count
    # CSV first: readable anywhere; TensorBoard is one `--trainer.logger` away.
    "logger": {"class_path": "lightning.pytorch.loggers.CSVLogger", "init_args": {"save_dir": "runs"}},
}


class ClassifierCLI(LightningCLI):
    """LightningCLI with our defaults and callbacks.

    The data module's class count, class names and image shape reach the model in
    ``ClassifierModule.setup``, not through argument links: a link into the module's arguments
    breaks jsonargparse for networks given as functions (``torchvision.models.resnet18``).
    """

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.set_defaults(
            {
                "model": {
                    "class_path": "lit_classifier.ClassifierModule",
                    "init_args": {"model": {"class_path": "lit_classifier.models.SmallCNN"}},
                },
                "data": {"class_path": "lit_classifier.DigitsDataModule"},
            }
        )
        # Callbacks every run gets, each configurable (`--checkpoint.every_n_epochs 2`).
        parser.add_lightning_class_args(EpochSummary, "summary")
        parser.add_lightning_class_args(ProgressBar, "progress_bar")
        parser.add_lightning_class_args(PredictionWriter, "predictions")
        parser.add_lightning_class_args(RunPlots, "plots")
        parser.add_lightning_class_args(Interruption, "interruption")
        parser.add_lightning_class_args(ModelCheckpoint, "checkpoint")
        parser.add_lightning_class_args(SpeedOptions, "speed")
        parser.set_defaults({"checkpoint.save_last": True})

    def _parse_ckpt_path(self) -> None:
        """Lightning reads ``--ckpt_path``'s hyperparameters first: put its load errors in clear words."""
        with exit_on_input_error():
            try:
                super()._parse_ckpt_path()
            except Exception as error:
                path = Path(str(self.config[self.config.subcommand].get("ckpt_path")))
                problem = explain_load_error(path, error)
                if problem is None:
                    raise
                raise problem from error

    def before_instantiate_classes(self) -> None:
        # Every checkpoint this command loads (`--ckpt_path`) is read as plain data, so a planted
        # file cannot run code. `--weights_only false` opts out, for files you trust.
        if not self.subcommand:  # run=False (lit-classifier-lr-find): no --ckpt_path, no such option
            return
        config = self.config[self.subcommand]
        if config.get("weights_only") is None:
            config["weights_only"] = True
        with exit_on_input_error():
            check_ckpt_path(config.get("ckpt_path"))  # a typo fails now, not after the data is loaded

    def instantiate_classes(self) -> None:
        """Build the classes; a value they reject ends the command with that one reason."""
        try:
            super().instantiate_classes()
        except ValueError as error:
            # jsonargparse wraps the class's own error in a report of every type it tried.
            reason = _root_cause(error)
            print(f"error: invalid configuration: {reason}", file=sys.stderr)
            raise SystemExit(2) from error
        use_atomic_checkpoints(self.trainer)

    def _run_subcommand(self, subcommand: str) -> None:
        """Run it; a checkpoint or data that cannot be used ends the command with that one reason."""
        config = self.config_init[subcommand]
        with exit_on_input_error():
            try:
                if config.get("ckpt_path") == "last":
                    config["ckpt_path"] = self._last_checkpoint(subcommand)
                super()._run_subcommand(subcommand)
            except InputError as error:
                self._drop_empty_run_folder()
                path = config.get("ckpt_path")
                if isinstance(error, ClassCountError) and path:  # the class count came from this file
                    raise ClassCountError(f"{path}: {error}") from error
                raise
            except NonFiniteLossError as error:
                last = getattr(self.trainer.checkpoint_callback, "last_model_path", "")
                kept = f"the last good checkpoint is {last}" if last else "no checkpoint was written"
                print(f"error: {error}\n{kept}", file=sys.stderr)
                raise SystemExit(1) from error

    def _drop_empty_run_folder(self) -> None:
        """The logger makes the run folder before the data is set up; a run that failed on its
        input before writing anything leaves no empty folder behind to shift the next version."""
        log_dir = getattr(self.trainer.logger, "log_dir", None)
        folder = Path(log_dir) if log_dir else None
        if self.trainer.is_global_zero and folder and folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()

    def _last_checkpoint(self, subcommand: str) -> str | None:
        """``--ckpt_path last``: the newest last or interrupted checkpoint of the earlier runs."""
        logger = self.trainer.logger
        runs = Path(getattr(logger, "root_dir", None) or self.trainer.default_root_dir)
        dirpath = getattr(self.trainer.checkpoint_callback, "dirpath", None)
        found = find_last_checkpoint(runs, Path(dirpath) if dirpath else None)
        if found is None and subcommand != "fit":
            raise CheckpointError(
                f"--ckpt_path last: no last.ckpt or interrupted.ckpt under {runs}/*/checkpoints"
            )
        if found is None:
            print(f"--ckpt_path last: no checkpoint under {runs} yet, so this is a new run")
            return None
        print(f"--ckpt_path last: {found}")
        return str(found)


def _root_cause(error: BaseException) -> BaseException:
    while (inner := error.__cause__ or error.__context__) is not None:
        error = inner
    return error


def run(
    args: ArgsType = None, cli_class: type[ClassifierCLI] = ClassifierCLI, subcommands: bool = True
) -> ClassifierCLI:
    """Run the command line in-process (tests, notebooks) and return it: ``.trainer``, ``.model``.

    ``cli_class`` and ``subcommands=False`` serve other commands built on the same options
    (``lit-classifier-lr-find``): they get the configured model, data and Trainer without a run.
    """
    with warnings.catch_warnings():
        # In a notebook sys.argv holds the kernel's own arguments; `args` is what counts here.
        warnings.filterwarnings("ignore", message="LightningCLI's args parameter is intended")
        return cli_class(
            ClassifierModule,
            ClassificationDataModule,
            subclass_mode_model=True,
            subclass_mode_data=True,
            trainer_defaults=TRAINER_DEFAULTS,
            seed_everything_default=0,  # the same command gives the same run
            auto_configure_optimizers=False,  # ClassifierModule takes `optimizer` and `scheduler` itself
            run=subcommands,
            args=args,
        )


def main(args: ArgsType = None) -> None:
    """Entry point of ``lit-classifier``."""
    run(args)


if __name__ == "__main__":
    main()
