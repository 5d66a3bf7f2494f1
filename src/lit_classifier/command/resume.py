"""What ``--ckpt_path`` brings into a command's configuration, read as untrusted data.

LightningCLI on its own reads a checkpoint's ``hyper_parameters`` into the configuration and builds
whatever classes they name, before any check. Here the command line withholds ``ckpt_path`` from it
(``withhold``) and applies the checkpoint itself (``apply``):

- the network of the checkpoint is used unless the command names one (``--model.model``), and only
  if ``lit_classifier.checkpoints.trust`` allows it;
- likewise its data module, with the command's own ``--data.*`` options on top, so that
  ``predict --ckpt_path X --data.predict_root photos/`` needs nothing else; a data module that the
  command names (``--data CLASS``, or a config file naming one) wins, the default class too;
- ``fit`` resumes with the optimizer state saved in the file, so a command whose optimizer,
  scheduler or loss options differ from the checkpoint's is refused, naming the difference
  (rather than recording values that training would not use). The optimizer and scheduler are
  always built from the command's configuration, never from the file.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import lightning as L
import yaml
from jsonargparse import Namespace
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.cli import ArgsType

from lit_classifier.checkpoints.io import is_local, load_checkpoint_file
from lit_classifier.checkpoints.load import module_arguments, module_class
from lit_classifier.checkpoints.record import Record
from lit_classifier.checkpoints.runs import (
    SPECIAL_CKPT_PATHS,
    check_ckpt_path,
    resolve_named,
)
from lit_classifier.checkpoints.trust import checked_spec, local_data, trusted_network
from lit_classifier.command.parser import Defaults
from lit_classifier.errors import CheckpointError, FitError, NonFiniteLossError
from lit_classifier.module import ClassifierModule
from lit_classifier.specs import class_path_of, init_defaults, minimal_spec, resolve


def withhold(config: Namespace) -> str | None:
    """Take ``ckpt_path`` out of the parsed ``config`` (LightningCLI would load it unchecked)."""
    subcommand = config.get("subcommand")
    value = config[subcommand].get("ckpt_path") if subcommand else None
    if subcommand and value:
        config[subcommand]["ckpt_path"] = None
    return str(value) if value else None


def apply(
    value: str,
    config: Namespace,
    subcommand: str,
    runs: Path | None,
    defaults: Defaults,
    data_named: bool = False,
) -> dict[str, Any] | None:
    """Resolve ``last`` and ``best``, read the checkpoint's record and put its network and data into
    ``config``; return the loaded checkpoint (``None`` for one that Lightning resolves itself),
    which the run then restores from without reading the file again.

    ``config`` is the subcommand's part of the configuration. An option counts as given when it
    differs from its class's default (``specs.minimal_spec``); ``defaults`` are the command's
    default network and data module class paths. ``data_named``: the command chose its data module
    class (``names_data_module``), which then wins even when it is the default one.
    """
    # last and best: Lightning knows them only in the process that trained
    value = resolve_named(value, runs, _shared_folder(config), subcommand)
    check_ckpt_path(value or None)
    config["ckpt_path"] = value or None
    if not value or value in SPECIAL_CKPT_PATHS or not is_local(value):
        return None  # Lightning resolves these itself; the network and data come from the command line
    checkpoint = load_checkpoint_file(
        Path(value), map_location="cpu", weights_only=config.get("weights_only")
    )
    record = Record.read(checkpoint, value)
    trusted = list(config.get("trusted_modules") or [])
    adopt_module(record, config, value, trusted)
    for name, saved in record.trained_for().items():  # what the network was trained for
        if config.get(f"model.init_args.{name}") is None and saved is not None:
            config[f"model.init_args.{name}"] = saved
    network = "model.init_args.model"
    # A network of the default class built in Python (train_model(SmallCNN())) is rebuilt with the
    # default arguments: the weights then say whether they fit.
    default_in_python = {"class_path": class_path_of(resolve(defaults.network)), "init_args": None}
    if minimal_spec(config[network]) == Namespace(class_path=defaults.network) and (
        record.network != default_in_python
    ):
        spec = trusted_network(record.network, value, trusted, checkpoint["state_dict"])
        config[network] = _namespace(spec)
    given_data = minimal_spec(config["data"])
    given = list((given_data.get("init_args") or Namespace()).keys())
    chosen = class_path_of(resolve(given_data["class_path"]))
    if data_named or chosen != class_path_of(resolve(defaults.data)):
        saved_spec = record.data
        # The command named the checkpoint's class: the checkpoint's options, then the command's.
        if isinstance(saved_spec, dict) and chosen == saved_spec.get("class_path"):
            saved = local_data(checked_spec(saved_spec, "data module", value), value, given)
            config["data"] = _namespace(saved, given_data.get("init_args"))
    elif (saved_data := record.data_spec(value, trusted, given)) is not None:
        config["data"] = _namespace(saved_data, given_data.get("init_args"))
    if subcommand == "fit":
        refuse_changed_options(record.optimization(), config["model.init_args"], value)
        refuse_finished_beyond(checkpoint.get("epoch", 0), config.get("trainer.max_epochs"), value)
    return checkpoint


def adopt_module(record: Record, config: Namespace, source: str, trusted: list[str]) -> None:
    """The checkpoint's own module class (``load.module_class``) and its recorded init arguments
    for those the command leaves at their defaults: a subclass's checkpoint needs no option repeated."""
    given = minimal_spec(config["model"]).get("init_args") or Namespace()
    chosen = module_class(record, source, resolve(config["model.class_path"]), ClassifierModule, trusted)
    config["model.class_path"] = class_path_of(chosen)
    for name, saved in module_arguments(record, chosen).items():
        if name not in given:
            config[f"model.init_args.{name}"] = saved


def names_data_module(args: ArgsType) -> bool:
    """Whether the command line chooses its data module class: ``--data CLASS`` (``--data=CLASS``,
    ``--data FILE.yaml``), or a ``--config`` (``-c``) file or string whose ``data`` has a class.

    The parsed configuration cannot tell: the default class is filled in when none is named, and
    ``--data.batch_size 8`` alone is filled in with it too. Such options alone name no class, so they
    go to the checkpoint's data module.
    """
    if isinstance(args, (dict, Namespace)):
        return _config_names_data(args.as_dict() if isinstance(args, Namespace) else args)
    words = sys.argv[1:] if args is None else [str(word) for word in args]
    for index, word in enumerate(words):
        key, equals, value = word.partition("=")
        if not equals:
            value = words[index + 1] if index + 1 < len(words) else ""
        if key == "--data":
            spec = _yaml_value(value)
            if not isinstance(spec, dict) or "class_path" in spec:
                return True
        elif key in ("--config", "-c") and _config_names_data(_yaml_value(value)):
            return True
    return False


def _config_names_data(config: Any) -> bool:
    """Whether a configuration (of one subcommand, or keyed by subcommand) gives ``data`` a class."""
    if not isinstance(config, dict):
        return False
    sections = [config, *(section for section in config.values() if isinstance(section, dict))]
    for section in sections:
        data = section.get("data")
        if isinstance(data, str) or (isinstance(data, dict) and "class_path" in data):
            return True
    return False


def _yaml_value(value: str) -> Any:
    """A command-line value as jsonargparse reads it: a YAML file's content, else the YAML text itself."""
    path = Path(value)
    try:
        text = path.read_text() if value and path.is_file() else value
        return yaml.safe_load(text)
    except (OSError, yaml.YAMLError, UnicodeDecodeError):
        return value


def refuse_changed_options(saved_options: dict[str, Any], options: Namespace, source: str) -> None:
    """A resumed ``fit`` keeps the checkpoint's optimizer state: the settings it was trained with
    (``Record.optimization``) must not change."""
    for name, saved in saved_options.items():
        if name not in options:
            continue
        given = options[name].as_dict() if isinstance(options[name], Namespace) else options[name]
        if name in ("optimizer", "scheduler"):
            same = _same_description(given, saved)
        else:
            same = json.dumps(given, default=str) == json.dumps(saved, default=str)
        if not same:
            raise CheckpointError(
                f"--ckpt_path {source} resumes a run trained with model.{name} = {_show(saved)}, but "
                f"this command gives {_show(given)}. A resumed run continues with the checkpoint's "
                "optimizer state, so these options cannot change: resume with the options it was "
                "trained with (its run folder's config.yaml), or start a new run"
            )


def refuse_finished_beyond(epochs: int, max_epochs: int | None, source: str) -> None:
    """A resumed ``fit`` of a checkpoint that has finished more than ``--trainer.max_epochs`` epochs
    would stop in a traceback once the run has started (Lightning's own check): refused here, in one
    line naming both (``checkpoints.io.check_progress`` made sure ``epochs`` is what is restored)."""
    if max_epochs is not None and max_epochs != -1 and epochs > max_epochs:
        raise CheckpointError(
            f"--ckpt_path {source} has finished {epochs} epochs, more than --trainer.max_epochs "
            f"{max_epochs}: give a larger --trainer.max_epochs to train on, or evaluate it (validate, test)"
        )


def _same_description(given: dict[str, Any] | None, saved: dict[str, Any] | None) -> bool:
    """Whether the command's optimizer (or scheduler) is the one described in the checkpoint. Only
    the command's class is imported (the file's is compared by name), to fill in its defaults."""
    if given is None or saved is None:
        return given is saved
    if saved.get("init_args") is None:
        return True  # built in Python from arguments that are not plain data: nothing to compare
    target = resolve(given["class_path"])
    if class_path_of(target) != saved.get("class_path"):
        return False
    defaults = init_defaults(target)
    full = [
        json.dumps({**defaults, **(spec.get("init_args") or {})}, sort_keys=True, default=str)
        for spec in (given, saved)
    ]
    return full[0] == full[1]


def _shared_folder(config: Namespace) -> Path | None:
    dirpath = config.get("checkpoint.dirpath")
    return Path(dirpath).resolve() if dirpath else None


def _namespace(spec: dict[str, Any], extra: Namespace | None = None) -> Namespace:
    init_args = Namespace(**(spec.get("init_args") or {}))
    for key, value in (extra or Namespace()).items():
        init_args[key] = value
    return Namespace(class_path=spec["class_path"], init_args=init_args)


def _show(value: Any) -> str:
    if isinstance(value, dict) and "class_path" in value:
        arguments = ", ".join(f"{k}={v}" for k, v in (value.get("init_args") or {}).items())
        return f"{value['class_path']}({arguments})"
    return repr(value)


@contextmanager
def naming_errors(kwargs: dict[str, Any], trainer: L.Trainer) -> Iterator[None]:
    """Errors of a run from ``kwargs["ckpt_path"]`` name that file; a non-finite stop names the
    last good checkpoint."""
    path = kwargs.get("ckpt_path")
    try:
        yield
    except FitError as error:
        if not path:
            raise
        raise type(error)(f"{path}: {error}") from error
    except NonFiniteLossError as error:
        callback = trainer.checkpoint_callback
        last = callback.last_model_path if isinstance(callback, ModelCheckpoint) else ""
        kept = f"the last good checkpoint is {last}" if last else "no checkpoint was written"
        raise NonFiniteLossError(f"{error}\n{kept}") from error
