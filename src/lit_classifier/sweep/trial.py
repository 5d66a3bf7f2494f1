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

import json
import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import lightning as L
import optuna
from lightning.pytorch.callbacks import Callback

from lit_classifier.command.cli import run
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


def shown(params: dict[str, Any]) -> str:
    """A trial's options for reading (floats to 4 digits; its config.yaml has them whole)."""
    return " ".join(f"--{k}={f'{v:.4g}' if isinstance(v, float) else v}" for k, v in params.items())


def suggest(trial: optuna.Trial, config: SweepConfig) -> dict[str, Any]:
    """The trial's value of every option of the space."""
    params = {}
    for name, entry in config.space.items():
        options = {key: value for key, value in entry.items() if key != "type"}
        suggest_kind = getattr(trial, f"suggest_{entry['type']}")
        params[name] = suggest_kind(name, **options)
    return params


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
