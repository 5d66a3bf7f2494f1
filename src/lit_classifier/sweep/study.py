"""The study in its storage: trials that outlive the process that ran them, and which ones count.

A killed sweep leaves its running trial marked ``RUNNING``. Two things find such a trial:

- the heartbeat: every running trial writes one every ``HEARTBEAT_S`` seconds; one silent for twice
  that is failed by the next sweep of the study (Optuna's own check, on any machine);
- its worker: each trial records ``host:pid``; a sweep started on the same host fails at once a
  running trial whose process is gone, so a restart reruns it first instead of a grace period later.

A failed trial of either kind is queued again with the same parameters (Optuna's
``RetryHeartbeatStaleTrialCallback``); the copy is the one counted, and runs as a new trial number.
"""

from __future__ import annotations

import os
import socket
import warnings

import optuna
from optuna.exceptions import ExperimentalWarning
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.trial import FrozenTrial, TrialState

from lit_classifier.errors import InputError
from lit_classifier.outputs import _alive
from lit_classifier.sweep.config import SweepConfig

HEARTBEAT_S = 10  # a write per running trial this often: cheap in SQLite, and a kill found in 20 s
MAX_RETRY = 3  # a trial killed this many times (out of memory, say) is not queued again
WORKER = "worker"  # user attribute: host:pid of the process running the trial
DIVERGED = "diverged"  # user attribute: why a trial's loss or metric went non-finite; it counts as done
RUN_DIR = "run_dir"  # user attribute: the trial's run folder


def open_study(config: SweepConfig) -> tuple[optuna.Study, list[int]]:
    """The study (created if new) with a sampler seeded past its trials, and the numbers of the
    trials found dead here and queued again."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)  # heartbeats are "experimental" since 2.x
        try:
            storage = RDBStorage(
                config.storage,
                heartbeat_interval=HEARTBEAT_S,
                heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRY),
            )
        except (ValueError, ImportError, optuna.exceptions.StorageInternalError) as error:
            reason = str(error).splitlines()[0]
            raise InputError(
                f"--storage {config.storage}: not a database URL Optuna can open: {reason}"
            ) from None
    study = optuna.create_study(
        storage=storage,
        study_name=config.study_name,
        direction=config.direction,  # type: ignore[arg-type]
        pruner=config.pruner_factory(),
        load_if_exists=True,
    )
    if study.metric_names is None:
        study.set_metric_names([config.metric])
    made_for = (study.direction.name.lower(), (study.metric_names or [config.metric])[0])
    if made_for != (config.direction, config.metric):
        raise InputError(
            f"study {config.study_name} in {config.storage} was made to {' '.join(made_for)}; this "
            f"sweep would {config.direction} {config.metric}: give it another --study_name"
        )
    dead = fail_dead_trials(study, storage)
    study.sampler = config.sampler_factory(len(study.get_trials(deepcopy=False)))
    return study, dead


def fail_dead_trials(study: optuna.Study, storage: RDBStorage) -> list[int]:
    """Fail (and queue again) each running trial whose process on this host is gone."""
    host, dead = socket.gethostname(), []
    study_id = storage.get_study_id_from_name(study.study_name)
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        worker_host, _, pid = str(trial.user_attrs.get(WORKER, "")).rpartition(":")
        if worker_host != host or _alive(pid) or not pid:
            continue
        trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, trial.number)
        if storage.set_trial_state_values(trial_id, TrialState.FAIL):
            retry = storage.get_heartbeat_stale_trial_callback()
            if retry is not None:
                retry(study, storage.get_trial(trial_id))
            dead.append(trial.number)
    return dead


def mark_worker(trial: optuna.Trial) -> None:
    trial.set_user_attr(WORKER, f"{socket.gethostname()}:{os.getpid()}")


def counted(trials: list[FrozenTrial]) -> list[FrozenTrial]:
    """The trials that are done: complete, pruned, or failed on a non-finite loss (a result too);
    a trial failed by a kill is not, its queued copy counts instead."""
    done = (TrialState.COMPLETE, TrialState.PRUNED)
    return [t for t in trials if t.state in done or (t.state == TrialState.FAIL and DIVERGED in t.user_attrs)]


def retried_from(trial: FrozenTrial) -> int | None:
    """The trial this one reruns, or ``None``."""
    return RetryHeartbeatStaleTrialCallback.retried_trial_number(trial)
