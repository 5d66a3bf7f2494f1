"""The study in its storage: trials that outlive the process that ran them, and which ones count.

A killed sweep leaves its running trial marked ``RUNNING``. Two things find such a trial:

- the heartbeat: every running trial writes one every ``HEARTBEAT_S`` seconds; one silent for twice
  that is failed by the next sweep of the study (Optuna's own check, on any machine);
- its worker: each trial records ``host:pid``; a sweep started on the same host fails at once a
  running trial whose process is gone, so a restart reruns it first instead of a grace period later.

A failed trial of either kind is queued again with the same parameters (Optuna's
``RetryHeartbeatStaleTrialCallback``); the copy is the one counted, and runs as a new trial number.

Sweeps started together on a new database share it: both create its tables, and creating is
idempotent, so the one that finds a table the other has just made tries again (``created_storage``).
The database is input like any file: a URL that names no database Optuna can open is one error line.
"""

from __future__ import annotations

import os
import random
import socket
import time
import warnings
from pathlib import Path

import optuna
from optuna.exceptions import ExperimentalWarning, StorageInternalError
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.trial import FrozenTrial, TrialState
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError, NoSuchModuleError, OperationalError

from lit_classifier.errors import InputError
from lit_classifier.outputs import process_alive
from lit_classifier.sweep.config import SweepConfig

HEARTBEAT_S = 10  # a write per running trial this often: cheap in SQLite, and a kill found in 20 s
MAX_RETRY = 3  # a trial killed this many times (out of memory, say) is not queued again
WORKER = "worker"  # user attribute: host:pid of the process running the trial
DIVERGED = "diverged"  # user attribute: why a trial's loss or metric went non-finite; it counts as done
RUN_DIR = "run_dir"  # user attribute: the trial's run folder
CREATE_TRIES = 5  # sweeps started together on a new database: each creates its tables, the losers again


def open_study(config: SweepConfig, option: str = "--storage") -> tuple[optuna.Study, list[int]]:
    """The study (created if new) with a sampler seeded past its trials, and the numbers of the
    trials found dead here and queued again. A storage that cannot be opened is an ``InputError``
    naming ``option`` (where the URL came from) and the URL."""
    try:
        storage = created_storage(config.storage)
        study = optuna.create_study(
            storage=storage,
            study_name=config.study_name,
            direction=config.direction,  # type: ignore[arg-type]
            pruner=config.pruner_factory(),
            load_if_exists=True,
        )
    except (InputError, ValueError, ImportError, DBAPIError, ArgumentError, StorageInternalError) as error:
        raise InputError(f"{option} {config.storage}: {storage_problem(error)}") from None
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


def created_storage(url: str) -> RDBStorage:
    """Optuna's storage at ``url``, its tables created if the database is new.

    Two sweeps started together on a new database both find no tables and both create them: one
    then finds a table the other has just made (``table studies already exists``) or its version row
    (a ``UNIQUE constraint failed``), and would stop. Creating is idempotent (each table is made only
    if missing), so that one tries again, a moment later, and both go on with the same study.
    """
    _check_folder(url)
    for attempt in range(1, CREATE_TRIES):
        try:
            return _storage(url)
        except (OperationalError, IntegrityError):
            time.sleep(random.uniform(0.05, 0.2) * attempt)  # apart from the other sweep's next try
    return _storage(url)


def _storage(url: str) -> RDBStorage:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)  # heartbeats are "experimental" since 2.x
        return RDBStorage(
            url,
            heartbeat_interval=HEARTBEAT_S,
            heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRY),
        )


def _check_folder(url: str) -> None:
    """SQLite creates a missing database file but not its folder, of which it says only "unable to
    open database file": the missing folder is named instead."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        folder = Path(parsed.database).parent
        if not folder.is_dir():
            raise InputError(f"no folder {folder} to keep the database in")


def storage_problem(error: BaseException) -> str:
    """Why Optuna cannot keep a study at a storage URL, in words about the URL."""
    if isinstance(error, NoSuchModuleError):  # redis://, a typo of the database's kind
        return "no SQL database of that kind: a study is kept in SQLite, PostgreSQL or MySQL (sqlite:///sweeps.db)"
    if isinstance(error, ArgumentError):
        return "not a database URL (such as sqlite:///sweeps.db)"
    if isinstance(error, DBAPIError):  # the database's own words: not a database, read-only, refused
        return f"cannot keep the study there: {str(error.orig).splitlines()[0]}"
    return str(error).splitlines()[0]


def fail_dead_trials(study: optuna.Study, storage: RDBStorage) -> list[int]:
    """Fail (and queue again) each running trial whose process on this host is gone."""
    host, dead = socket.gethostname(), []
    study_id = storage.get_study_id_from_name(study.study_name)
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        worker_host, _, pid = str(trial.user_attrs.get(WORKER, "")).rpartition(":")
        if worker_host != host or process_alive(pid) or not pid:
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
