"""The ``lit-classifier`` command: LightningCLI with the digits data and the small CNN by default.

    lit-classifier fit                                   # 8 epochs of SmallCNN on digits
    lit-classifier fit --config configs/digits.yaml --trainer.max_epochs 3
    lit-classifier predict --ckpt_path last --data.predict_root new_photos/

Every option is an ``__init__`` argument of ``ClassifierModule`` (``--model.*``), of a data module
(``--data.*``), of the Trainer (``--trainer.*``) or of a callback (``--checkpoint.*``, ...);
``--print_config`` shows them all resolved.
"""

from __future__ import annotations

import gc
import re
import sys
import warnings
from collections.abc import Sequence
from importlib.metadata import version
from pathlib import Path
from typing import Any

import lightning as L
from jsonargparse import lazy_instance
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.cli import ArgsType, LightningArgumentParser, LightningCLI

from lit_classifier.callbacks import CALLBACKS, EpochSummary, default_callbacks
from lit_classifier.checkpoints import runs
from lit_classifier.checkpoints.io import AtomicCheckpointIO
from lit_classifier.command import resume
from lit_classifier.command.config_checks import check_command, check_config_files
from lit_classifier.command.parser import DEFAULTS, DESCRIPTION, ClassifierParser, add_command_options
from lit_classifier.command.process_group import released_process_group, wait_for_launched
from lit_classifier.command.quiet import quiet_lightning
from lit_classifier.data.base import ClassificationDataModule
from lit_classifier.errors import InputError, command_errors
from lit_classifier.framework import callbacks_of, set_callbacks
from lit_classifier.module import ClassifierModule

TRAINER_DEFAULTS = {
    "max_epochs": 8,  # the classic recipe's epoch count
    # CSV first: readable anywhere; TensorBoard is one `--trainer.logger` away.
    "logger": {"class_path": "lightning.pytorch.loggers.CSVLogger", "init_args": {"save_dir": "runs"}},
    # What no logger's folder holds goes beside the runs, not into the current folder: the batch-size
    # and learning-rate finders' temporary checkpoints, the checkpoints of a logger without a save_dir.
    "default_root_dir": "runs",
    "plugins": lazy_instance(AtomicCheckpointIO),  # whole checkpoint files, never half-written
    "enable_model_summary": False,  # one line per epoch; `--trainer.enable_model_summary true` for the table
}


class ClassifierCLI(LightningCLI):
    """LightningCLI with our defaults and callbacks, and checkpoints read as untrusted data."""

    ckpt_path: str | None = None  # withheld from LightningCLI, which would build what the file names
    run_folder: Path | None = None  # reserved before the logger is built; removed if nothing is written
    data_named: bool = False  # the command line names its data module class, which wins over a checkpoint's
    checkpoint: dict[str, Any] | None = None  # the file of --ckpt_path, read once, restored from by the run

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        words = sys.argv[1:] if kwargs.get("args") is None else kwargs["args"]
        first = words[0] if isinstance(words, list) and words else None
        self.named_subcommand = first if first in LightningCLI.subcommands() else None
        super().__init__(*args, **kwargs)

    def subcommands(self) -> dict[str, set[str]]:  # type: ignore[override]  # Lightning's is static
        """Lightning's subcommands, but only the one the command line starts with when it names one:
        each subcommand's parser takes 0.15 s to build, and a run uses one. ``lit-classifier --help``,
        a misspelt subcommand or a config file first still get them all."""
        every = LightningCLI.subcommands()
        named = self.named_subcommand
        return {named: every[named]} if named is not None else every

    def setup_parser(
        self, add_subcommands: bool, main_kwargs: dict[str, Any], subparser_kwargs: dict[str, Any]
    ) -> None:
        main_kwargs.setdefault("description", DESCRIPTION)
        super().setup_parser(add_subcommands, main_kwargs, subparser_kwargs)
        if add_subcommands and isinstance(self.parser, ClassifierParser):
            self.parser.add_serve_subcommand()
        self.parser.add_argument(
            "--version", action="version", version=f"lit-classifier {version('lit-classifier')}"
        )

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        add_command_options(parser)

    def parse_arguments(self, parser: LightningArgumentParser, args: ArgsType) -> None:
        if args is None or isinstance(args, list):
            check_config_files(sys.argv[1:] if args is None else [str(word) for word in args])
        super().parse_arguments(parser, args)
        self.ckpt_path = resume.withhold(self.config)
        self.data_named = resume.names_data_module(args)

    def before_instantiate_classes(self) -> None:
        subcommand = str(self.subcommand)
        config = self.config[subcommand]
        if self.ckpt_path is not None:
            root, named = runs.logger_root(config), self.data_named
            self.checkpoint = resume.apply(self.ckpt_path, config, subcommand, root, DEFAULTS, named)
        check_command(config, subcommand, config.get("ckpt_path"))
        self.run_folder = runs.reserve_run_folder(config, subcommand)

    def instantiate_classes(self) -> None:
        with runs.discarded_on_failure(self.run_folder):
            super().instantiate_classes()

    def instantiate_trainer(self, **kwargs: Any) -> L.Trainer:
        """The Trainer, with those of the run's configured callbacks that ``default_callbacks`` keeps
        (the others were not asked for, and the checkpoint restored holds no state of theirs)."""
        bar = self.config_init[self.subcommand]["trainer"].get("enable_progress_bar") is not False
        # Lightning refuses a progress-bar callback beside enable_progress_bar=False: ours is dropped
        # below instead, which leaves the Trainer without any bar, as asked.
        trainer = super().instantiate_trainer(**kwargs, **({} if bar else {"enable_progress_bar": True}))
        configured = {key: self.config_init[self.subcommand][key] for key in CALLBACKS}
        restoring = (self.checkpoint or {}).get("callbacks") or {}
        kept = default_callbacks(configured.values(), restoring=list(restoring), progress_bar=bar)
        dropped = [callback for callback in configured.values() if callback not in kept]
        set_callbacks(trainer, [c for c in callbacks_of(trainer) if c not in dropped])
        return trainer

    def after_instantiate_classes(self) -> None:
        # The checkpoint records how its network was built, so that it can be rebuilt (allowlisted).
        if isinstance(self.model, ClassifierModule):
            spec = self.config[self.subcommand]["model.init_args.model"]
            self.model.record.network = spec.as_dict() if hasattr(spec, "as_dict") else spec
            self.model.adopt_data_of(self.datamodule, require_shape=True)  # before any callback's setup
        checkpoint_io = self.trainer.strategy.checkpoint_io
        if self.checkpoint is not None and isinstance(checkpoint_io, AtomicCheckpointIO):
            checkpoint_io.hand_over(self.config[self.subcommand]["ckpt_path"], self.checkpoint)
        if self.subcommand == "fit":  # before the logger starts, which removes an earlier metrics.csv
            runs.carry_on_metrics(self.trainer, self.checkpoint)
        self.checkpoint = None

    def _run(self, method: Any, model: ClassifierModule, **kwargs: Any) -> None:
        """Run a Trainer method: a run that wrote nothing leaves no folder; errors name the checkpoint;
        the processes of a DDP run part cleanly."""
        with (
            released_process_group(),
            runs.discarded_on_failure(self.run_folder),
            resume.naming_errors(kwargs, self.trainer),
        ):
            method(model, **kwargs)
        wait_for_launched(self.trainer)
        runs.discard_if_unused(self.run_folder)

    def fit(self, model: ClassifierModule, **kwargs: Any) -> None:
        run = runs.run_folder_of(kwargs.get("ckpt_path"))
        with warnings.catch_warnings():
            if run is not None:  # a fit continuing its run: its checkpoint folder is not empty, of course
                folder = re.escape(str(run / runs.CHECKPOINTS))
                warnings.filterwarnings(
                    "ignore", message=f"Checkpoint directory {folder} exists and is not empty"
                )
            self._run(self.trainer.fit, model, **kwargs)
        callbacks = callbacks_of(self.trainer)
        trained = any(isinstance(c, EpochSummary) and c.history for c in callbacks)
        if kwargs.get("ckpt_path") and not trained and self.trainer.is_global_zero:
            print(f"nothing to do: {kwargs['ckpt_path']} has finished its {self.trainer.max_epochs} epochs")

    def validate(self, model: ClassifierModule, **kwargs: Any) -> None:
        self._run(self.trainer.validate, model, **kwargs)

    def test(self, model: ClassifierModule, **kwargs: Any) -> None:
        self._run(self.trainer.test, model, **kwargs)

    def predict(self, model: ClassifierModule, **kwargs: Any) -> None:
        self._run(self.trainer.predict, model, **kwargs)


def run(args: ArgsType = None, callbacks: Sequence[Callback] = ()) -> ClassifierCLI:
    """Run the command line in-process (tests, notebooks) and return it: ``.trainer``, ``.model``.
    ``callbacks`` join the run's own without entering its config (a sweep's trial reporter)."""
    with command_errors(), quiet_lightning():
        return ClassifierCLI(
            ClassifierModule,
            ClassificationDataModule,
            subclass_mode_model=True,
            subclass_mode_data=True,
            parser_class=ClassifierParser,
            trainer_defaults={**TRAINER_DEFAULTS, "callbacks": list(callbacks)},
            seed_everything_default=0,  # the same command gives the same run
            auto_configure_optimizers=False,  # ClassifierModule takes `optimizer` and `scheduler` itself
            # Checkpoints hold a plain-data record (lit_classifier.checkpoints.record), read as data.
            load_from_checkpoint_support=False,
            save_config_callback=runs.WholeConfig,
            args=args,
        )


def main(args: ArgsType = None) -> None:
    """Entry point of ``lit-classifier``; ``lit-classifier serve`` is no Trainer command, so it has its
    own parser (``lit_classifier.serving``, which needs the ``serve`` extra).

    Run as the process's command (no ``args``), it first freezes what the imports made: those
    objects live until the process ends, so no garbage collection needs to walk them again, during
    the run or at exit: after an 8-epoch ``fit`` of the digits the process took 1.4 s to exit, 0.3 s
    with them frozen (docs/performance.md says how this was measured)."""
    if args is None:
        gc.freeze()
    given = sys.argv[1:] if args is None else list(args)
    if given[:1] == ["serve"]:
        with command_errors():
            try:
                from lit_classifier.serving.command import main as serve
            except ModuleNotFoundError as missing:
                raise InputError(f"serve needs {missing.name}: pip install 'lit-classifier[serve]'") from None
        serve([str(arg) for arg in given[1:]])
        return
    run(args)
