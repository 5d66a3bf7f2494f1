"""The one place that reads or changes what Lightning, litdata, datasets and argparse keep undocumented.

Everything else in the package uses their public interfaces. What is here has none: where the fit
loop stands within an epoch (to save a sampler's place and to know a batch ended its epoch), how a
checkpoint stores that place and the loaders' state, the keys LightningCLI adds to hyper-parameters,
the processes Lightning's launcher started, the Trainer's list of callbacks (a plain attribute it
does not declare), litdata's record of the process group, the builders of Hugging Face's
``datasets``, an argparse parser's options and its help formatter's hook. A release may change any
of them without notice: ``tests/test_framework.py`` runs each against the installed versions, and
fails when one changes, and checks that no other module reaches for them.
"""

from __future__ import annotations

import subprocess
from argparse import Action, ArgumentParser
from collections.abc import Mapping, Sequence
from typing import Any

import lightning as L
from jsonargparse import DefaultHelpFormatter
from lightning.pytorch.callbacks import Callback

#: The keys LightningCLI adds to the hyper-parameters that a module or data module saves: the class's
#: path (which ``checkpoints.record`` keeps as the class a checkpoint is rebuilt as) and its builder.
CLASS_PATH_KEY = "_class_path"
CLI_KEYS = (CLASS_PATH_KEY, "_instantiator")


# -- the fit loop of a running Trainer ---------------------------------------------------------------


def batches_begun(trainer: L.Trainer) -> int:
    """Training batches begun in the current epoch (checkpoints are written after a step)."""
    return int(trainer.fit_loop.epoch_loop.batch_progress.current.ready)


def ended_epoch(trainer: L.Trainer) -> bool:
    """Whether the training batch that ran last was its epoch's last."""
    return bool(trainer.fit_loop.epoch_loop.batch_progress.is_last_batch)


def epochs_processed(trainer: L.Trainer) -> int:
    """Epochs the fit loop has processed: counted before their end hooks (where checkpoints are
    written), and restored from a checkpoint on a resume. Lightning's annotation names a tracker
    without this count; the one it creates has it."""
    return int(trainer.fit_loop.epoch_progress.current.processed)  # type: ignore[attr-defined]


def restarting(trainer: L.Trainer) -> bool:
    """Whether the fit loop is resuming from a checkpoint and has not yet run a batch."""
    return bool(trainer.fit_loop.restarting)


# -- the fit loop's state as a checkpoint stores it ---------------------------------------------------


def _fit_loop(checkpoint: Mapping[str, Any]) -> Mapping[str, Any]:
    loops = checkpoint.get("loops")
    fit_loop = loops.get("fit_loop") if isinstance(loops, Mapping) else None
    return fit_loop if isinstance(fit_loop, Mapping) else {}


def saved_batch_progress(checkpoint: Mapping[str, Any]) -> tuple[int, bool]:
    """(batches processed in the saved epoch, whether the last of them ended it) as ``checkpoint``'s
    fit loop saved them; (0, True) for a file without them."""
    progress = _fit_loop(checkpoint).get("epoch_loop.batch_progress", {})
    return int(progress.get("current", {}).get("processed", 0)), bool(progress.get("is_last_batch", True))


def saved_loader_state(checkpoint: Mapping[str, Any]) -> bool:
    """Whether ``checkpoint`` holds a training loader's own state (a stateful loader's, litdata's),
    which Lightning restores to go on at the next sample."""
    return bool(_fit_loop(checkpoint).get("state_dict", {}).get("combined_loader"))


def saved_counts(checkpoint: Mapping[str, Any]) -> tuple[Any, list[Any]] | None:
    """What Lightning restores as ``current_epoch`` and ``global_step`` from ``checkpoint``'s loops:
    the epochs completed, and the optimizer steps completed as counted for automatic and for manual
    optimization; ``None`` for a file without loops. Raises ``LookupError`` or ``TypeError`` when the
    loops are not laid out as Lightning writes them. The values are as read: the caller checks them."""
    loops = checkpoint.get("loops")
    if loops is None:
        return None
    fit_loop = loops["fit_loop"]
    epochs = fit_loop["epoch_progress"]["current"]["completed"]
    automatic = fit_loop["epoch_loop.automatic_optimization.optim_progress"]["optimizer"]["step"]
    manual = fit_loop["epoch_loop.manual_optimization.optim_step_progress"]
    return epochs, [automatic["total"]["completed"], manual["total"]["completed"]]


# -- the Trainer's callbacks and processes -------------------------------------------------------------


def callbacks_of(trainer: L.Trainer) -> list[Callback]:
    """The Trainer's callbacks, in the order Lightning calls them."""
    callbacks: list[Callback] = trainer.callbacks  # type: ignore[attr-defined]  # undeclared
    return callbacks


def set_callbacks(trainer: L.Trainer, callbacks: Sequence[Callback]) -> None:
    """Replace the Trainer's callbacks, before it runs."""
    trainer.callbacks = list(callbacks)  # type: ignore[attr-defined]  # undeclared


def launched_processes(trainer: L.Trainer) -> list[subprocess.Popen[Any]]:
    """The processes that Lightning's launcher started for the other ranks on this machine (DDP on
    CPUs, or GPUs without ``torchrun``); none for a single process or one started by others."""
    found = getattr(trainer.strategy.launcher, "procs", ())
    return [process for process in found if isinstance(process, subprocess.Popen)]


# -- litdata ----------------------------------------------------------------------------------------


def make_sole_reader(dataset: Any) -> None:
    """Tell a litdata ``StreamingDataset`` that this process is the only one reading it: litdata
    counts the processes when it is made (from the process group or ``WORLD_SIZE``) and shares the
    samples out among them from that record."""
    env = dataset.distributed_env
    env.world_size, env.global_rank, env.num_nodes = 1, 0, 1


# -- Hugging Face datasets ------------------------------------------------------------------------


def datasets_builders() -> frozenset[str]:
    """The names of ``datasets``' own builders (``imagefolder``, ``parquet``, ...): a set's ``path``
    that names one reads local files; none without ``datasets`` installed."""
    try:
        from datasets.packaged_modules import _PACKAGED_DATASETS_MODULES
    except ImportError:
        return frozenset()
    return frozenset(_PACKAGED_DATASETS_MODULES)


# -- argparse ---------------------------------------------------------------------------------------


def option_strings(parser: ArgumentParser) -> list[str]:
    """Every option string ``parser`` takes (``--model.optimizer.lr``, ``-c``, ...)."""
    return [option for action in parser._actions for option in action.option_strings]


class HelpTextFormatter(DefaultHelpFormatter):
    """jsonargparse's help formatter, whose subclasses edit each option's help text in ``help_text``
    (argparse's hook for that, ``_get_help_string``, is a protected method)."""

    def _get_help_string(self, action: Action) -> str:
        return self.help_text(action, super()._get_help_string(action) or "")

    def help_text(self, action: Action, text: str) -> str:
        """The help text of ``action`` as the help shows it: ``text``, unless a subclass edits it."""
        return text
