"""``lit-classifier-sweep`` and ``sweep()``: trials until the study has ``n_trials`` done, then the best."""

from __future__ import annotations

import argparse
import re
import sys
import warnings
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any, NoReturn

import optuna
from optuna.exceptions import ExperimentalWarning
from optuna.trial import FrozenTrial, TrialState

from lit_classifier.checkpoints.runs import CONFIG, run_checkpoint
from lit_classifier.errors import InputError, command_errors, short_repr
from lit_classifier.sweep.config import SweepConfig, load_config
from lit_classifier.sweep.plot import write_study_plot
from lit_classifier.sweep.study import DIVERGED, RUN_DIR, counted, open_study, retried_from
from lit_classifier.sweep.trial import SweepStopped, TrialFailed, follow_trial, objective, runs_folder, shown

PLOT = "study.png"  # beside the trials' run folders: runs/STUDY/study.png


@dataclass
class SweepResult:
    """The study, its best trial (``None`` while no trial has completed) and that trial's files."""

    study: optuna.Study
    best: FrozenTrial | None
    run_dir: Path | None
    checkpoint: Path | None
    config: Path | None
    plot: Path | None


def sweep(config: SweepConfig | str | Path, args: Sequence[str] = (), **overrides: Any) -> SweepResult:
    """Run trials of ``lit-classifier fit`` until the study holds ``n_trials`` done ones; a study
    that has some already (a sweep killed and started again) goes on from them.

    ``config`` is a ``SweepConfig`` or the path of a sweep YAML file (``overrides``: ``storage``,
    ``study_name``, ``n_trials``); ``args`` are options given to every trial after the file's own.
    """
    given = {key: value for key, value in overrides.items() if value is not None}
    if isinstance(config, SweepConfig):
        config = replace(config, **given)
    else:
        config = load_config(Path(config), **given)
    with quiet_optuna():
        study, dead = open_study(config, "--storage" if "storage" in given else f"{config.source}: storage:")
        runs = runs_folder(config, list(args))
        for number in dead:
            print(f"trial {number} stopped with its process: it runs again first")
        done = len(counted(study.get_trials(deepcopy=False)))
        verb = "maximizing" if config.direction == "maximize" else "minimizing"
        where = f"study {config.study_name} ({config.storage})"
        print(f"{where}: {done} of {config.n_trials} trials done, {verb} {config.metric}")
        run_one = partial(objective, config=config, extra=list(args))
        try:
            while len(counted(study.get_trials(deepcopy=False))) < config.n_trials:
                study.optimize(
                    run_one,
                    n_trials=1,
                    catch=(TrialFailed,),
                    callbacks=[partial(say_result, metric=config.metric)],
                    gc_after_trial=True,
                )
        except SweepStopped as stopped:
            if stopped.message is None:
                raise SystemExit(2) from None  # the trial's command has printed its error line
            raise InputError(stopped.message) from None
        return finish(study, config, runs)


def finish(study: optuna.Study, config: SweepConfig, runs: Path) -> SweepResult:
    """Name the best trial's checkpoint and config, and draw the study, in ``runs`` (``runs/STUDY``)."""
    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    best = study.best_trial if complete else None
    plot = None
    if any(RUN_DIR in t.user_attrs for t in trials):
        plot = write_study_plot(runs / PLOT, trials, config.metric, config.direction == "maximize", best)
    counts = Counter("failed" if t.state == TrialState.FAIL else t.state.name.lower() for t in trials)
    summary = ", ".join(f"{n} {state}" for state, n in counts.items())
    if best is None:
        print(f"no trial completed ({summary})" + (f"; plot: {plot}" if plot else ""))
        return SweepResult(study, None, None, None, None, plot)
    run_dir = run_folder(best, runs)
    checkpoint, run_config = run_checkpoint(run_dir), run_dir / CONFIG
    print(f"best: trial {best.number}, {config.metric} {best.value:.4f} ({len(trials)} trials: {summary})")
    print(f"  options: {shown(best.params)}")
    print(f"  checkpoint: {checkpoint}\n  config: {run_config}\n  plot: {plot}")
    return SweepResult(study, best, run_dir, checkpoint, run_config, plot)


def run_folder(trial: FrozenTrial, runs: Path) -> Path:
    """The trial's run folder in ``runs``: only its name (``version_N``) is taken from the database."""
    name = Path(str(trial.user_attrs.get(RUN_DIR, ""))).name
    if not re.fullmatch(r"version_\d+", name):
        recorded = short_repr(trial.user_attrs.get(RUN_DIR))
        raise InputError(
            f"trial {trial.number}: its run folder in the study's database is {recorded}, not a "
            f"version_N folder of {runs}: the database was changed outside the sweep"
        )
    return runs / name


def say_result(study: optuna.Study, trial: FrozenTrial, metric: str) -> None:
    """One line per trial, after its epoch lines: its result and run folder."""
    again = retried_from(trial)
    name = f"trial {trial.number}" + (f" (trial {again} again)" if again is not None else "")
    folder = f" | {trial.user_attrs[RUN_DIR]}" if RUN_DIR in trial.user_attrs else ""
    if trial.state == TrialState.COMPLETE:
        result = f"{metric} {trial.value:.4f}"
    elif trial.state == TrialState.PRUNED:
        last = max(trial.intermediate_values, default=None)
        result = f"pruned after epoch {last + 1}" if last is not None else "pruned"
    else:
        result = f"failed: {trial.user_attrs.get(DIVERGED, 'see its error above')}"
    print(f"{name}: {result}{folder}", flush=True)


@contextmanager
def quiet_optuna() -> Iterator[None]:
    """Our lines instead of Optuna's log (which announces each trial, and a failed one with its
    traceback), and none of its warnings about features it calls experimental (heartbeats, retries)."""
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ExperimentalWarning)
            yield
    finally:
        optuna.logging.set_verbosity(verbosity)


class SweepParser(argparse.ArgumentParser):
    """A bad command line is one ``error:`` line, exit status 2, as for ``lit-classifier``."""

    def error(self, message: str) -> NoReturn:
        print(f"error: {message}", file=sys.stderr)
        self.exit(2)


DESCRIPTION = """Search the options of `lit-classifier fit` with Optuna: a study of trials in a
database, resumable (a killed sweep, started again, reruns the trial it was running and goes on).
Options after the sweep's own are given to every trial (--trainer.max_epochs 3)."""


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of ``lit-classifier-sweep``."""
    if follow_trial():  # a process DDP started for a trial
        return
    parser = SweepParser(prog="lit-classifier-sweep", description=DESCRIPTION)
    parser.add_argument("--config", required=True, type=Path, help="the sweep's YAML file")
    parser.add_argument(
        "--storage", help="database URL of the study (default: the file's, else sqlite:///sweeps.db)"
    )
    parser.add_argument("--study_name", help="the study's name (default: the file's, else sweep)")
    parser.add_argument("--n_trials", type=int, help="trials to end with (default: the file's, else 8)")
    options, extra = parser.parse_known_args(None if argv is None else list(argv))
    with command_errors():
        overrides = {
            "storage": options.storage,
            "study_name": options.study_name,
            "n_trials": options.n_trials,
        }
        sweep(options.config, extra, **overrides)
