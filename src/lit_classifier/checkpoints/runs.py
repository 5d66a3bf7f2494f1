"""The run folder: where a run's checkpoints, config and metrics are, for every command that needs them.

A run of ``lit-classifier fit`` writes ``runs/lightning_logs/version_N/`` (the logger's ``save_dir``,
``name`` and ``version``): ``config.yaml``, ``hparams.yaml``, ``metrics.csv`` (or TensorBoard's
event files), ``checkpoints/`` (``last.ckpt``, ``best.ckpt``) and the reports. This module is the one
place that knows that layout, and reads the metrics back (``run_history``).

A run folder is the whole story of one model: ``fit --ckpt_path`` of a checkpoint in it continues it
(same folder, ``metrics.csv`` carried on), and ``validate``, ``test`` and ``predict`` of such a
checkpoint write into a folder of their own inside it (``version_N/test/``), where nothing of the
fit's is overwritten. A checkpoint from elsewhere gets a new run folder, as any run.
"""

from __future__ import annotations

import csv
import os
import re
import shutil
import struct
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import lightning as L
import torch
from jsonargparse import Namespace
from lightning.fabric.utilities.rank_zero import rank_zero_only
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.cli import SaveConfigCallback
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from torch import Tensor

from lit_classifier.checkpoints.io import is_local
from lit_classifier.errors import CheckpointError, short_repr
from lit_classifier.framework import saved_batch_progress
from lit_classifier.outputs import output_error, replaced_file
from lit_classifier.specs import resolve

CONFIG = "config.yaml"
METRICS = "metrics.csv"
CHECKPOINTS = "checkpoints"
INTERRUPTED = "interrupted.ckpt"
#: The checkpoint of the epoch with the best validation accuracy (``callbacks.checkpoint.BestCheckpoint``).
BEST = "best.ckpt"
#: ``ckpt_path`` values Lightning resolves itself rather than reading as a file name.
SPECIAL_CKPT_PATHS = ("last", "best", "hpc")
_RESUMABLE = re.compile(r"^(last(-v?\d+)?|interrupted)\.ckpt$")
#: What a run folder holds before it has trained or evaluated anything.
_SETUP_FILES = {CONFIG, "hparams.yaml"}


def checkpoint_folder(trainer: L.Trainer) -> Path:
    """Where the run's ``ModelCheckpoint`` writes (``.../version_N/checkpoints``)."""
    callback = run_checkpoint_callback(trainer)
    folder = callback.dirpath if isinstance(callback, ModelCheckpoint) else None
    if folder is None:
        folder = Path(trainer.log_dir or trainer.default_root_dir) / CHECKPOINTS
    return Path(folder)


def run_checkpoint_callback(trainer: L.Trainer) -> ModelCheckpoint | None:
    """The run's own ``ModelCheckpoint``: the last of those that write ``last.ckpt`` (the command's
    comes after any a user adds, ``--trainer.callbacks+=ModelCheckpoint``, and Lightning's
    ``trainer.checkpoint_callback`` is the first of all), else Lightning's."""
    saving_last = [c for c in trainer.checkpoint_callbacks if isinstance(c, ModelCheckpoint) and c.save_last]
    first = trainer.checkpoint_callback
    return saving_last[-1] if saving_last else first if isinstance(first, ModelCheckpoint) else None


def find_last_checkpoint(runs: Path, dirpath: Path | None = None) -> Path | None:
    """The newest ``last.ckpt`` or ``interrupted.ckpt`` of any run under ``runs`` (``runs/lightning_logs``),
    or in ``dirpath`` (a ``--checkpoint.dirpath`` shared by the runs); a folder with neither stands
    for its newest checkpoint (``newest_checkpoint``).

    Lightning looks for ``--ckpt_path last`` only in the folder of the *new* run, which is always
    empty with a versioned logger; this looks in the earlier runs, which is what resuming means.
    The ``last.ckpt`` found may link to a file that is gone (``newest_checkpoint`` stands in for it);
    a run killed in the instant Lightning re-links it has none at all, and its newest epoch's file
    stands in, rather than an earlier run's ``last.ckpt``; so does the newest checkpoint of a run
    that keeps no ``last.ckpt`` (``--checkpoint.save_last false``).
    """
    folders = [*runs.glob(f"*/{CHECKPOINTS}"), *([dirpath] if dirpath else [])]
    candidates = []
    for folder in folders:
        resumable = [path for path in folder.glob("*.ckpt") if _RESUMABLE.match(path.name)]
        newest = newest_checkpoint(folder) if not resumable else None
        candidates += resumable or ([newest] if newest else [])
    return max(candidates, key=_written, default=None)


def resolve_best(runs: Path | None, dirpath: Path | None, subcommand: str) -> str:
    """``--ckpt_path best``: the ``best.ckpt`` of the newest run under ``runs`` (the run of
    ``find_last_checkpoint``, or ``dirpath`` shared by the runs), named in one line.

    Lightning's Trainer knows ``best`` only in the process that trained; each command is a new one.
    """
    if subcommand == "fit":
        raise CheckpointError(
            "--ckpt_path best: fit continues a run from its latest state, --ckpt_path last; "
            "best is for validate, test, predict, serve and export"
        )
    last = find_last_checkpoint(runs, dirpath) if runs else None
    if last is None:
        raise CheckpointError(f"--ckpt_path best: no run with checkpoints under {runs}/*/checkpoints")
    best = last.parent / BEST
    if not best.is_file():
        raise CheckpointError(
            f"--ckpt_path best: the newest run has no {BEST} in {last.parent} (it is kept from epochs that "
            "validate): give --ckpt_path a checkpoint file"
        )
    print(f"--ckpt_path best: {best}")
    return str(best)


def resolve_last(runs: Path | None, shared: Path | None, subcommand: str) -> str:
    """``--ckpt_path last``: the newest resumable checkpoint of the runs under ``runs`` (or ``shared``),
    named in one line; outside ``fit`` none is an error, in ``fit`` an empty string (a new run).
    A ``last.ckpt`` linked to a file that is gone (a run killed while saving) stands for the newest
    intact checkpoint of its run, and the line says so; a run with none left is an error. So does
    the newest checkpoint of a run without ``last.ckpt`` (killed while it was re-linked)."""
    found = find_last_checkpoint(runs, shared) if runs else None
    if found is not None and not found.is_file():
        stand_in = newest_checkpoint(found.parent)
        if stand_in is None:
            raise CheckpointError(
                f"--ckpt_path last: {found} links to a file that is gone, and no intact checkpoint is "
                f"left in {found.parent}: give --ckpt_path another checkpoint, or fit a new run"
            )
        print(
            f"--ckpt_path last: {found} links to a file that is gone, so the newest intact checkpoint of "
            f"that run is used: {stand_in}"
        )
        return str(stand_in)
    if found is not None and not _RESUMABLE.match(found.name):
        print(
            f"--ckpt_path last: {found.parent} has no last.ckpt, so the newest checkpoint of that run is "
            f"used: {found}"
        )
        return str(found)
    if found is None and subcommand != "fit":
        raise CheckpointError(
            f"--ckpt_path last: no last.ckpt or interrupted.ckpt under {runs}/*/checkpoints"
        )
    print(
        f"--ckpt_path last: {found}"
        if found
        else f"--ckpt_path last: no checkpoint under {runs} yet, so this is a new run"
    )
    return str(found) if found else ""


#: What ``--ckpt_path`` names instead of a file, and how each is found.
NAMED_CHECKPOINTS = {"last": resolve_last, "best": resolve_best}


def resolve_named(ckpt_path: str, runs: Path | None, shared: Path | None, subcommand: str) -> str:
    """``--ckpt_path`` as given, or, for ``last`` and ``best`` (``NAMED_CHECKPOINTS``), the file of
    the runs under ``runs`` (or of the checkpoint folder ``shared`` by the runs) that it names: for
    every command that takes one."""
    resolve = NAMED_CHECKPOINTS.get(ckpt_path)
    return resolve(runs, shared, subcommand) if resolve is not None else ckpt_path


def newest_checkpoint(folder: Path) -> Path | None:
    """The newest checkpoint in ``folder`` that is there to read, whatever its name.

    ``last.ckpt`` links to the newest ``epoch=N-step=M.ckpt``; a run killed after removing the
    previous epoch's file and before linking to the new one leaves it linked to a file that is gone,
    and the new epoch's file beside it. ``best.ckpt`` is an earlier state, never the newest; hidden
    files (``.lr_find_*.ckpt``, left by a learning-rate finder that was killed) are no run's state.
    """
    found = (
        path
        for path in folder.glob("*.ckpt")
        if path.is_file() and path.name != BEST and not path.name.startswith(".")
    )
    return max(found, key=_written, default=None)


def _written(path: Path) -> int:
    """When ``path`` was written: a link, when its file was, or when it was linked if that is gone."""
    return (path.stat() if path.exists() else path.lstat()).st_mtime_ns


def run_checkpoint(run_dir: Path) -> Path:
    """The checkpoint of a finished run: ``checkpoints/last.ckpt``, else the newest one there is."""
    last = run_dir / CHECKPOINTS / "last.ckpt"
    if last.is_file():
        return last
    found = newest_checkpoint(run_dir / CHECKPOINTS)
    if found is None:
        raise CheckpointError(
            f"{run_dir}: no checkpoint in {run_dir / CHECKPOINTS}: is this a fit run folder?"
        )
    return found


def check_ckpt_path(value: str | None) -> None:
    """Fail before any work when ``--ckpt_path`` names a local file that is not there."""
    if value is None or value in SPECIAL_CKPT_PATHS or value.startswith("registry") or not is_local(value):
        return
    if Path(value).is_dir():
        inside = sorted(Path(value).glob("**/checkpoints/last.ckpt")) or sorted(Path(value).glob("last.ckpt"))
        hint = f" (did you mean {inside[-1]}?)" if inside else ""
        raise CheckpointError(f"--ckpt_path {value} is a directory, not a checkpoint file{hint}")
    if not Path(value).is_file():
        raise CheckpointError(f"checkpoint file not found: {value} (--ckpt_path)")


def reserve_version(save_dir: Path, name: str) -> int:
    """Create the next ``version_N`` folder and return ``N``.

    ``os.mkdir`` fails when the folder exists, so two runs started at the same moment in one folder
    get different versions (a logger that counts the existing folders would give both the same).
    A folder that cannot be written is one ``OutputError`` naming it, before any work.
    """
    parent = save_dir / name
    try:
        parent.mkdir(parents=True, exist_ok=True)
        taken = [int(m.group(1)) for p in parent.iterdir() if (m := re.fullmatch(r"version_(\d+)", p.name))]
        version = max(taken, default=-1) + 1
        while True:
            try:
                os.mkdir(parent / f"version_{version}")
                return version
            except FileExistsError:
                version += 1
    except OSError as error:  # a read-only or full disk, a folder that is not ours
        reason = output_error(error, parent, "the run folder")
        if reason is None:
            raise
        raise reason from None


def discard_if_unused(folder: Path | None) -> bool:
    """Remove a run folder that holds nothing but the files written at setup (a run that failed
    before training or evaluating anything), so that it leaves nothing half-written behind; returns
    whether it did."""
    if folder is None or not folder.is_dir():
        return False
    contents = {path.name for path in folder.iterdir()}
    checkpoints = folder / CHECKPOINTS
    if checkpoints.is_dir() and not any(checkpoints.iterdir()):
        contents.discard(CHECKPOINTS)
    if contents <= _SETUP_FILES:
        shutil.rmtree(folder)
        return True
    return False


def logger_root(config: Namespace) -> Path | None:
    """``save_dir/name`` of the configured logger (``runs/lightning_logs``), where the runs' folders are."""
    return root_of(config.get("trainer.logger"))


def root_of(logger: object) -> Path | None:
    """``save_dir/name`` of one configured logger; ``None`` for one without a ``save_dir`` (or a list)."""
    if not isinstance(logger, Namespace) or not logger.get("init_args.save_dir"):
        return None
    return Path(logger["init_args.save_dir"]) / (logger.get("init_args.name") or "lightning_logs")


def configured_loggers(config: Namespace) -> tuple[list[Any], Any, Path | None]:
    """The loggers a command's ``config`` names, the first of them (which decides the run folder, as
    it does for Lightning), and that one's ``save_dir/name`` (``root_of``)."""
    loggers = config.get("trainer.logger")
    loggers = list(loggers) if isinstance(loggers, list) else [loggers]
    first = loggers[0] if loggers else None
    return loggers, first, root_of(first)


def run_folder_of(checkpoint: str | None) -> Path | None:
    """The run folder (``.../version_N``) that holds the local checkpoint file ``checkpoint`` in its
    ``checkpoints/``, beside the config or hyper-parameters a fit wrote; ``None`` for a file elsewhere.

    Only the path the user gave is looked at, never one read from the file: a ``last.ckpt`` link
    belongs to the folder it is in.
    """
    if not checkpoint or checkpoint in SPECIAL_CKPT_PATHS or not is_local(checkpoint) or "://" in checkpoint:
        return None
    folder = Path(checkpoint).parent
    if folder.name != CHECKPOINTS or not any((folder.parent / name).is_file() for name in _SETUP_FILES):
        return None
    return folder.parent


def place_in_run(config: Namespace, subcommand: str) -> Path | None:
    """Point the versioned loggers of a command whose ``--ckpt_path`` is in a run folder at that run:
    ``fit`` continues it (the same ``version_N``), ``validate``, ``test`` and ``predict`` write into
    its ``<command>/`` folder. Returns the folder written to, ``None`` when the loggers are left as
    they are (no such checkpoint, a run outside the loggers' folder, a version the user chose, loggers
    that name their runs themselves, or a ``<command>`` that is a link, which would lead out of the run).
    """
    run = run_folder_of(config.get("ckpt_path"))
    loggers, first, root = configured_loggers(config)
    if run is None or root is None or not isinstance(first, Namespace) or not versioned(first):
        return None
    if run.parent.resolve() != root.resolve():
        return None  # a run of other loggers' folders: the configured folder, the user's choice, wins
    if first.get("init_args.version") is not None or config.get("trainer.fast_dev_run"):
        return None  # a folder the user chose; a fast_dev_run, which writes nothing
    if subcommand == "fit":
        where = {"save_dir": str(run.parent.parent), "name": run.parent.name, "version": run.name}
        folder = run
    else:
        where = {"save_dir": str(run), "name": "", "version": subcommand}
        folder = run / subcommand
        if folder.is_symlink():
            return None
    for logger in loggers:
        if root_of(logger) == root and versioned(logger) and logger.get("init_args.version") is None:
            for key, value in where.items():
                logger[f"init_args.{key}"] = value
    verb = "continues its run in" if subcommand == "fit" else f"{subcommand} writes into"
    if global_rank() == 0:
        print(f"--ckpt_path {config.get('ckpt_path')}: {verb} {folder}")
    return folder


def reserve_run_folder(config: Namespace, subcommand: str = "fit") -> Path | None:
    """Create this run's ``version_N`` folder now and tell the logger its version (first process only;
    the others learn the folder from it), so that runs started together never share one.

    A command whose checkpoint is in a run folder writes there instead (``place_in_run``); the
    folder is returned only when it is new to this command (``<command>/`` of an evaluation), so
    that a run's own folder is never discarded.

    Only for loggers whose folder is ``save_dir/name/version_N`` (``versioned``); the others
    (MLflow, W&B, ...) name their runs themselves, and Lightning puts the checkpoints in
    ``save_dir/<their experiment>/<their run>/checkpoints``. With several loggers, the first decides
    the run folder (as it does for Lightning) and the versioned ones sharing its ``save_dir/name`` join it.
    """
    placed = place_in_run(config, subcommand)
    if placed is not None:
        return None if subcommand == "fit" else placed
    loggers, first, root = configured_loggers(config)
    if root is None or not isinstance(first, Namespace) or not versioned(first) or global_rank() != 0:
        return None
    if first.get("init_args.version") is not None:  # a folder the user chose
        return None
    if config.get("trainer.fast_dev_run"):  # Lightning puts a stand-in for the logger: there is no folder
        return None
    version = reserve_version(root.parent, root.name)
    for logger in loggers:
        if root_of(logger) == root and versioned(logger) and logger.get("init_args.version") is None:
            logger["init_args.version"] = version
    return root / f"version_{version}"


def versioned(logger: object) -> bool:
    """Whether a configured logger writes to ``save_dir/name/version_N``: Lightning's CSV and
    TensorBoard loggers and their subclasses, the ones ``Trainer.log_dir`` tells apart the same way.
    (W&B's ``version`` is its run id; MLflow has none.)"""
    class_path = logger.get("class_path") if isinstance(logger, Namespace) else None
    try:  # imported already: the parser checked the class
        found = resolve(class_path) if isinstance(class_path, str) else None
    except ImportError:
        return False
    return isinstance(found, type) and issubclass(found, (CSVLogger, TensorBoardLogger))


@contextmanager
def discarded_on_failure(folder: Path | None) -> Iterator[None]:
    """Remove ``folder`` if the work inside fails before writing anything there but its config."""
    try:
        yield
    except BaseException:
        discard_if_unused(folder)
        raise


def global_rank() -> int:
    """This process's rank as the launcher set it (0 when there is one process); known before any
    Trainer exists, which is when the run folder is reserved."""
    return int(getattr(rank_zero_only, "rank", 0))


class WholeConfig(SaveConfigCallback):
    """LightningCLI's ``config.yaml``, written whole (``outputs.replaced_file``): a full disk or a
    kill while it is written leaves no config cut short that a later ``--config`` would read."""

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        log_dir = trainer.log_dir  # asked on every process: a broadcast under DDP
        # Lightning would refuse the temporary file that replaced_file creates (exclusively, so that no
        # planted link is followed); config.yaml itself is replaced whole. Every process skips the
        # check alike, since it broadcasts.
        self.overwrite = True
        if self.already_saved or not trainer.is_global_zero or log_dir is None:
            super().setup(trainer, pl_module, stage)  # the other processes take part in its broadcasts
            return
        final = self.config_filename
        try:
            with replaced_file(Path(log_dir) / final) as temporary:
                self.config_filename = temporary.name  # Lightning writes to log_dir / config_filename
                super().setup(trainer, pl_module, stage)
        finally:
            self.config_filename = final


def read_confusion(matrix_csv: Path) -> Tensor:
    """The counts of ``val_confusion_matrix.csv`` (``callbacks/reports.py``): rows true, columns predicted.

    Like every file of a run folder it is read as untrusted data: a count that is no whole number of
    0 or more, or rows that make no square, is a ``CheckpointError`` naming the file and the line.
    """
    rows = _csv_lines(matrix_csv)[1:]
    counts = []
    for line, row in enumerate(rows, start=2):
        if len(row) != len(rows) + 1:
            raise CheckpointError(
                f"{matrix_csv}: line {line} has {len(row) - 1} counts; a confusion matrix of "
                f"{len(rows)} classes has {len(rows)} in each row"
            )
        bad = [count for count in row[1:] if not count.isdecimal()]
        if bad:
            raise CheckpointError(
                f"{matrix_csv}: line {line}: {short_repr(bad[0])} is no count (a whole number)"
            )
        counts.append([int(count) for count in row[1:]])
    return torch.tensor(counts, dtype=torch.long).reshape(len(rows), len(rows))


def saved_progress(checkpoint: dict[str, Any]) -> tuple[int, int, bool]:
    """Where a checkpoint's fit stood, as Lightning's fit loop saved it: its epoch (from 0), the
    batches done in that epoch, and whether the last of them ended the epoch."""
    done, ended = saved_batch_progress(checkpoint)
    return int(checkpoint.get("epoch", 0)), done, ended


def carry_on_metrics(trainer: L.Trainer, checkpoint: dict[str, Any] | None) -> None:
    """Keep the rows of the epochs that ``checkpoint`` (the one a ``fit`` resumes) has finished in the
    ``metrics.csv`` the run continues, so that its learning curves are whole. Called before the run.

    Lightning's CSV logger removes the ``metrics.csv`` of its folder when it starts writing there
    (and appends only what it logged itself); so the file is read first, the logger started, and the
    rows written back through it at once. Rows of later epochs (a resume from an earlier checkpoint)
    are left out: the run takes another course from there. TensorBoard adds a new event file beside
    the old ones, which ``run_history`` reads together.
    """
    if checkpoint is None or global_rank() != 0:
        return
    epoch, done, ends_epoch = saved_progress(checkpoint)
    finished = epoch + int(done > 0 and ends_epoch)
    for logger in trainer.loggers:
        if not isinstance(logger, CSVLogger) or not (path := Path(logger.log_dir) / METRICS).is_file():
            continue
        header, *rows = _csv_lines(path) or [[]]
        logged = [{key: value for key, value in zip(header, row, strict=False) if value} for row in rows]
        kept: list[dict[str, Any]] = [
            row
            for line, row in enumerate(logged, start=2)
            if _number(path, line, "epoch", row.get("epoch", "0")) < finished
        ]
        with warnings.catch_warnings():  # "Previous log files in this directory will be deleted"
            warnings.filterwarnings("ignore", message="Experiment logs directory")
            writer = logger.experiment
        writer.metrics[:0] = kept
        writer.save()


def run_history(run_dir: Path) -> list[dict[str, float]] | None:
    """The run's metrics per epoch, from whichever logger wrote them: the CSV logger's ``metrics.csv``,
    else TensorBoard's event files; ``None`` when the folder has neither."""
    if (run_dir / METRICS).is_file():
        return read_history(run_dir / METRICS)
    events = sorted(run_dir.glob("events.out.tfevents.*"))
    return epoch_rows(row for path in events for row in tensorboard_rows(path)) if events else None


def read_history(metrics_csv: Path) -> list[dict[str, float]]:
    """One dict per epoch (1-based ``epoch``) from the CSV logger's file: the last value of each key.

    Read as untrusted data: a value that is no number (or an ``epoch`` that is no epoch), or a row
    longer than the header, is a ``CheckpointError`` naming the file, the line and the column.
    """
    header, *rows = _csv_lines(metrics_csv) or [[]]
    history = []
    for line, row in enumerate(rows, start=2):
        if len(row) > len(header):
            raise CheckpointError(
                f"{metrics_csv}: line {line} has {len(row)} values; its header names {len(header)} columns"
            )
        values = zip(header, row, strict=False)  # a short row's last columns are empty
        history.append({key: _number(metrics_csv, line, key, value) for key, value in values if value})
    return epoch_rows(history)


def _csv_lines(path: Path) -> list[list[str]]:
    """The rows of the CSV file ``path``, its header first; a ``CheckpointError`` naming it if it is none."""
    try:
        with path.open(newline="") as file:
            return list(csv.reader(file))
    except (csv.Error, UnicodeDecodeError) as error:
        raise CheckpointError(f"{path}: not a CSV file of text ({error})") from None


def _number(path: Path, line: int, column: str, text: str) -> float:
    """The value ``text`` of ``column`` at ``line`` of the CSV file ``path``, as a number."""
    try:
        value = float(text)
    except ValueError:
        raise CheckpointError(
            f"{path}: line {line}: its {column} is {short_repr(text)}, not a number"
        ) from None
    if column == "epoch" and not (value.is_integer() and value >= 0):
        raise CheckpointError(
            f"{path}: line {line}: its epoch is {short_repr(text)}, not an epoch (0, 1, 2, ...)"
        )
    return value


def epoch_rows(rows: Iterable[dict[str, float]]) -> list[dict[str, float]]:
    """Logged rows (each with Lightning's 0-based ``epoch``) merged into one dict per epoch, 1-based:
    the last value of each key."""
    epochs: dict[int, dict[str, float]] = {}
    for row in rows:
        if "epoch" not in row:
            continue
        epoch = int(row["epoch"]) + 1
        epochs.setdefault(epoch, {"epoch": epoch}).update({k: v for k, v in row.items() if k != "epoch"})
    return [epochs[epoch] for epoch in sorted(epochs)]


def tensorboard_rows(path: Path) -> list[dict[str, float]]:
    """The scalars of one TensorBoard event file, one dict per logged step (as the CSV logger's rows).

    The file is a sequence of records (length, its checksum, an ``Event`` protobuf, its checksum);
    it is read as data only, and a record cut short (a run still writing) ends the reading.
    """
    from google.protobuf.message import DecodeError
    from tensorboard.compat.proto.event_pb2 import Event

    data = path.read_bytes()
    steps: dict[int, dict[str, float]] = {}
    position = 0
    while position + 12 <= len(data):
        (length,) = struct.unpack_from("<Q", data, position)
        start, position = position + 12, position + 12 + length + 4
        if position > len(data):
            break
        try:
            event = Event.FromString(data[start : start + length])
        except DecodeError:
            break
        for value in event.summary.value:
            if value.WhichOneof("value") == "simple_value":
                steps.setdefault(event.step, {})[value.tag] = value.simple_value
    return [steps[step] for step in sorted(steps)]
