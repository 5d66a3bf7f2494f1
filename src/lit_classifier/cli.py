"""The ``lit-classifier`` command: LightningCLI with the digits data and the small CNN by default.

One device (CPU or GPU, whichever is there)::

    lit-classifier fit                                   # 8 epochs of SmallCNN on digits
    lit-classifier fit --config configs/digits.yaml --trainer.max_epochs 3
    lit-classifier test --ckpt_path runs/lightning_logs/version_0/checkpoints/last.ckpt
    lit-classifier predict --ckpt_path runs/lightning_logs/version_0/checkpoints/last.ckpt

Every option is an ``__init__`` argument of ``ClassifierModule`` (``--model.*``), of a data module
(``--data.*``), of the Trainer (``--trainer.*``) or of a callback (``--checkpoint.*``, ...);
``--print_config`` shows them all resolved.
"""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path
from typing import Any

from jsonargparse import lazy_instance
from lightning.pytorch.cli import ArgsType, LightningArgumentParser, LightningCLI

from lit_classifier import from_checkpoint, runs
from lit_classifier.callbacks import DEFAULT_CALLBACKS, NonFiniteLossError
from lit_classifier.checkpoint_io import AtomicCheckpointIO
from lit_classifier.config_checks import check_command
from lit_classifier.data.base import ClassificationDataModule
from lit_classifier.errors import command_errors
from lit_classifier.models.heads import ClassCountError, InputShapeError
from lit_classifier.module import ClassifierModule
from lit_classifier.parser import ClassifierParser
from lit_classifier.quiet import quiet_lightning
from lit_classifier.restore import WeightsMismatch

DEFAULTS = from_checkpoint.Defaults(
    network="lit_classifier.models.SmallCNN", data="lit_classifier.DigitsDataModule"
)
DESCRIPTION = """Train and use image classifiers with PyTorch Lightning.

`lit-classifier SUBCOMMAND --help` lists a subcommand's options; `--model.help CLASS` and
`--data.help CLASS` list a network's, module's or data module's own. Related commands:
lit-classifier-lr-find (the options of fit: a learning-rate range test), lit-classifier-plot RUN_DIR
(draw a run's pictures again), python -m lit_classifier.export CHECKPOINT model.onnx|model.pt."""
TRAINER_DEFAULTS = {
    "max_epochs": 8,  # the classic recipe's epoch count
    # CSV first: readable anywhere; TensorBoard is one `--trainer.logger` away.
    "logger": {"class_path": "lightning.pytorch.loggers.CSVLogger", "init_args": {"save_dir": "runs"}},
    "plugins": lazy_instance(AtomicCheckpointIO),  # whole checkpoint files, never half-written
    "enable_model_summary": False,  # one line per epoch; `--trainer.enable_model_summary true` for the table
}


class ClassifierCLI(LightningCLI):
    """LightningCLI with our defaults and callbacks, and checkpoints read as untrusted data."""

    ckpt_path: str | None = None  # withheld from LightningCLI, which would build what the file names
    run_folder: Path | None = None  # reserved before the logger is built; removed if nothing is written

    def setup_parser(
        self, add_subcommands: bool, main_kwargs: dict[str, Any], subparser_kwargs: dict[str, Any]
    ) -> None:
        main_kwargs.setdefault("description", DESCRIPTION)
        super().setup_parser(add_subcommands, main_kwargs, subparser_kwargs)
        self.parser.add_argument(
            "--version", action="version", version=f"lit-classifier {version('lit-classifier')}"
        )

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.set_defaults(
            {
                "model": {
                    "class_path": "lit_classifier.ClassifierModule",
                    "init_args": {"model": {"class_path": DEFAULTS.network}},
                },
                "data": {"class_path": DEFAULTS.data},
            }
        )
        for key, callback in DEFAULT_CALLBACKS.items():  # each configurable: --checkpoint.every_n_epochs 2
            parser.add_lightning_class_args(callback, key)
        parser.add_argument(
            "--trusted_modules",
            type=list[str],
            default=[],
            help="Modules whose network and data module classes a checkpoint may name (e.g. [my_package]).",
        )

    def parse_arguments(self, parser: LightningArgumentParser, args: ArgsType) -> None:
        super().parse_arguments(parser, args)
        self.ckpt_path = from_checkpoint.withhold(self.config)

    def before_instantiate_classes(self) -> None:
        if not self.subcommand:  # run=False (lit-classifier-lr-find): no --ckpt_path here
            return
        config = self.config[self.subcommand]
        if config.get("weights_only") is None:
            config["weights_only"] = True  # plain data only; `--weights_only false` for files you trust
        if self.ckpt_path is not None:
            root = runs.logger_root(config)
            from_checkpoint.apply(self.ckpt_path, config, self.subcommand, root, DEFAULTS)
        check_command(config, self.subcommand, config.get("ckpt_path"))
        self.run_folder = runs.reserve_run_folder(config)

    def instantiate_classes(self) -> None:
        with runs.discarded_on_failure(self.run_folder):
            super().instantiate_classes()

    def after_instantiate_classes(self) -> None:
        # The checkpoint records how its network was built, so that it can be rebuilt (allowlisted).
        if isinstance(self.model, ClassifierModule):
            spec = self._get(self.config, "model.init_args.model")
            self.model.hparams["model"] = spec.as_dict() if hasattr(spec, "as_dict") else spec

    def _run(self, method: Any, model: ClassifierModule, **kwargs: Any) -> None:
        """Run a Trainer method; a run that wrote nothing (it failed early, or resumed a finished
        run) leaves no folder behind, and errors name the checkpoint."""
        with runs.discarded_on_failure(self.run_folder):
            try:
                method(model, **kwargs)
            except (ClassCountError, InputShapeError, WeightsMismatch) as error:
                if not kwargs.get("ckpt_path"):
                    raise
                raise type(error)(f"{kwargs['ckpt_path']}: {error}") from error
            except NonFiniteLossError as error:
                last = getattr(self.trainer.checkpoint_callback, "last_model_path", "")
                kept = f"the last good checkpoint is {last}" if last else "no checkpoint was written"
                raise NonFiniteLossError(f"{error}\n{kept}") from error
        if runs.discard_if_unused(self.run_folder) and kwargs.get("ckpt_path"):
            print(f"nothing to do: {kwargs['ckpt_path']} has finished its {self.trainer.max_epochs} epochs")

    def fit(self, model: ClassifierModule, **kwargs: Any) -> None:
        self._run(self.trainer.fit, model, **kwargs)

    def validate(self, model: ClassifierModule, **kwargs: Any) -> None:
        self._run(self.trainer.validate, model, **kwargs)

    def test(self, model: ClassifierModule, **kwargs: Any) -> None:
        self._run(self.trainer.test, model, **kwargs)

    def predict(self, model: ClassifierModule, **kwargs: Any) -> None:
        self._run(self.trainer.predict, model, **kwargs)


def run(
    args: ArgsType = None, cli_class: type[ClassifierCLI] = ClassifierCLI, subcommands: bool = True
) -> ClassifierCLI:
    """Run the command line in-process (tests, notebooks) and return it: ``.trainer``, ``.model``.

    ``cli_class`` and ``subcommands=False`` serve other commands built on the same options
    (``lit-classifier-lr-find``): they get the configured model, data and Trainer without a run.
    """
    with command_errors(), quiet_lightning():
        return cli_class(
            ClassifierModule,
            ClassificationDataModule,
            subclass_mode_model=True,
            subclass_mode_data=True,
            parser_class=ClassifierParser,
            trainer_defaults=TRAINER_DEFAULTS,
            seed_everything_default=0,  # the same command gives the same run
            auto_configure_optimizers=False,  # ClassifierModule takes `optimizer` and `scheduler` itself
            load_from_checkpoint_support=False,  # checkpoints hold a plain-data record (restore.py)
            run=subcommands,
            args=args,
        )


def main(args: ArgsType = None) -> None:
    """Entry point of ``lit-classifier``."""
    run(args)
