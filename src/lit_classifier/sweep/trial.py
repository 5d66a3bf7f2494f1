"""One trial: ``lit-classifier fit`` in this process with the trial's options, reporting each epoch.

The trial is a normal run (its own run folder, config and checkpoint under ``runs/STUDY/``). Its
validation metric goes to Optuna after every epoch, and the pruner's answer stops the run at that
epoch's end.

Under DDP Lightning starts the other processes by running this command again; they find the
trial's options in ``TRIAL_ENV`` and run just that trial's ``fit`` (``follow_trial``). Only the first
process talks to the study: it decides to prune, and broadcasts the decision, so that every process
stops at the same epoch. Nothing is raised inside the run (a process that raised would make
Lightning kill the others); the trial is marked pruned once ``fit`` has returned.
"""

from __future__ import annotations

import io
import json
import math
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from pathlib import Path
from typing import Any

import lightning as L
import optuna
import yaml
from lightning.pytorch.callbacks import Callback

from lit_classifier.command.cli import run
from lit_classifier.errors import ConfigError
from lit_classifier.sweep.config import SweepConfig
from lit_classifier.sweep.study import DIVERGED, RUN_DIR, mark_worker

#: The trial's options and metric, for the processes Lightning starts under DDP.
TRIAL_ENV = "LIT_CLASSIFIER_SWEEP_TRIAL"


class TrialFailed(Exception):
    """The trial's loss went non-finite: the study records a failure and the sweep goes on."""


class SweepStopped(Exception):
    """A trial that no other trial would get past (its options refused, no metric): the sweep stops.
    ``message`` is the error line still to print; the command's own error line is printed already."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or "a trial's command refused its options")
        self.message = message


class TrialPruning(Callback):
    """Reports ``metric`` after every epoch's validation and stops the run when the pruner says so.

    ``trial`` is ``None`` in the processes that only follow the first one's decision.
    """

    # What an interrupted trial's message says instead of `fit --ckpt_path` (``callbacks.interrupt``):
    # the sweep reruns a trial that was running, and a `fit` of its own would be another run.
    resume_hint = "to go on, run the same sweep command again: it runs this trial again from its start"

    def __init__(self, trial: optuna.Trial | None, metric: str) -> None:
        self.trial, self.metric = trial, metric
        self.pruned_at: int | None = None  # the epoch (from 1, as the epoch lines count) it stopped after
        self._reported: set[int] = set()  # validation may also run within an epoch: one report each

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        epoch, prune = trainer.current_epoch, False  # Optuna's steps, from 0: n_warmup_steps 1 spares epoch 1
        value = trainer.callback_metrics.get(self.metric)
        if self.trial is not None and value is not None and epoch not in self._reported:
            self.trial.report(float(value), step=epoch)
            self._reported.add(epoch)
            # Pruning after the last epoch would save nothing and lose a complete trial.
            prune = epoch + 1 != trainer.max_epochs and self.trial.should_prune()
        if trainer.strategy.broadcast(prune, src=0):
            trainer.should_stop, self.pruned_at = True, epoch + 1


def trial_args(config: SweepConfig, params: dict[str, Any], extra: list[str]) -> list[str]:
    """The ``fit`` command of a trial: the sweep's options, then the trial's, in the study's runs folder."""
    chosen = [
        f"--{name}={value if isinstance(value, str) else json.dumps(value)}" for name, value in params.items()
    ]
    return ["fit", *config.args, *extra, *chosen, f"--trainer.logger.init_args.name={config.study_name}"]


def runs_folder(config: SweepConfig, extra: list[str]) -> Path:
    """The folder of the trials' run folders, ``save_dir/STUDY`` of the logger that the sweep's
    options give ``fit`` (``runs/STUDY``). The database records each trial's folder too, but anyone
    who can write that file could point it anywhere: what the sweep writes and names is placed by its
    own options. A bad option stops the sweep here, with ``fit``'s error line, before any trial."""
    printed = io.StringIO()
    try:
        with redirect_stdout(printed):
            run([*trial_args(config, {}, extra), "--print_config"])  # prints the options resolved, exits 0
    except SystemExit as stopped:
        if stopped.code:
            raise
    logger = yaml.safe_load(printed.getvalue())["trainer"]["logger"]
    save_dir = logger.get("init_args", {}).get("save_dir") if isinstance(logger, dict) else None
    if not save_dir:
        raise ConfigError(
            f"{config.source}: args: the trials need a logger with a save_dir to keep their runs"
        )
    return Path(save_dir) / config.study_name


def shown(params: dict[str, Any]) -> str:
    """A trial's options for reading (floats to 4 digits; its config.yaml has them whole)."""
    return " ".join(f"--{k}={f'{v:.4g}' if isinstance(v, float) else v}" for k, v in params.items())


def suggest(trial: optuna.Trial, config: SweepConfig) -> dict[str, Any]:
    """The trial's value of every option of the space.

    A trial queued in the database (``study.enqueue_trial``) comes with its values, which Optuna
    takes even outside the space (it only warns): anyone who can write the database could give the
    run any value. A value outside the space stops the sweep, naming the trial (which Optuna marks
    failed, so the next sweep goes on without it).
    """
    params = {}
    for name, entry in config.space.items():
        options = {key: value for key, value in entry.items() if key != "type"}
        suggest_kind = getattr(trial, f"suggest_{entry['type']}")
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Fixed parameter", UserWarning)  # refused below instead
            try:
                value = suggest_kind(name, **options)
            except ValueError as error:  # a queued value that is not a choice, or not a number
                raise SweepStopped(outside(trial, name, str(error).splitlines()[0].rstrip("."))) from None
        low, high = options.get("low"), options.get("high")
        if low is not None and not low <= value <= high:
            raise SweepStopped(outside(trial, name, f"{value!r} is not in {low}..{high}"))
        params[name] = value
    return params


def outside(trial: optuna.Trial, name: str, why: str) -> str:
    return f"trial {trial.number}: {name}: {why}: a value outside the sweep's space, queued in its database"


def objective(trial: optuna.Trial, config: SweepConfig, extra: list[str]) -> float:
    """Run the trial; its value is ``config.metric`` at the end of its last epoch (its checkpoint's)."""
    mark_worker(trial)
    params = suggest(trial, config)
    args = trial_args(config, params, extra)
    print(f"trial {trial.number}: {shown(params)}", flush=True)
    pruning = TrialPruning(trial, config.metric)
    with trial_environment({"args": args, "metric": config.metric}):
        try:
            finished = run(args, callbacks=[pruning])
        except SystemExit as stopped:
            if stopped.code == 1:  # the non-finite loss guard, whose error line names the step
                trial.set_user_attr(DIVERGED, "the loss went non-finite")
                raise TrialFailed("the loss went non-finite") from None
            if stopped.code == 2:
                raise SweepStopped() from None
            raise  # an interrupt (SIGTERM, Ctrl+C): the trial stays running, and is rerun on restart
    trial.set_user_attr(RUN_DIR, str(finished.trainer.log_dir))
    value = finished.trainer.callback_metrics.get(config.metric)
    if pruning.pruned_at is not None:
        raise optuna.TrialPruned(f"after epoch {pruning.pruned_at}")
    if value is None:
        raise SweepStopped(f"trial {trial.number} logged no {config.metric}: the trials must validate")
    if not math.isfinite(float(value)):
        trial.set_user_attr(DIVERGED, f"{config.metric} is {float(value)}")
        raise TrialFailed(f"{config.metric} is {float(value)}")
    return float(value)


@contextmanager
def trial_environment(trial: dict[str, Any]) -> Iterator[None]:
    """``TRIAL_ENV`` for the processes DDP starts; the variables DDP sets in this process (its rank,
    port and world size) are taken away afterwards, so that the next trial starts its own."""
    saved = dict(os.environ)
    os.environ[TRIAL_ENV] = json.dumps(trial)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def follow_trial() -> bool:
    """In a process started by DDP for a trial: run that trial's ``fit`` and return ``True``."""
    if TRIAL_ENV not in os.environ or int(os.environ.get("LOCAL_RANK", "0")) == 0:
        return False
    trial = json.loads(os.environ[TRIAL_ENV])
    run(trial["args"], callbacks=[TrialPruning(None, trial["metric"])])
    return True
