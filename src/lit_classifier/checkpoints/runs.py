"""The run folder: where a run's checkpoints, config and metrics are, for every command that needs them.

A run of ``lit-classifier fit`` writes ``runs/lightning_logs/version_N/`` (the logger's ``save_dir``,
``name`` and ``version``): ``config.yaml``, ``hparams.yaml``, ``metrics.csv`` (or TensorBoard's
event files), ``checkpoints/`` and the reports. This module is the one place that knows that layout,
and reads the metrics back (``run_history``).
"""

from __future__ import annotations

import csv
import os
import re
import shutil
import struct
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import lightning as L
import torch
from jsonargparse import Namespace
from lightning.fabric.utilities.rank_zero import rank_zero_only
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.cli import SaveConfigCallback
from torch import Tensor

from lit_classifier.checkpoints.io import is_local
from lit_classifier.errors import CheckpointError
from lit_classifier.outputs import output_error, replaced_file

CONFIG = "config.yaml"
METRICS = "metrics.csv"
CHECKPOINTS = "checkpoints"
INTERRUPTED = "interrupted.ckpt"
#: ``ckpt_path`` values Lightning resolves itself rather than reading as a file name.
SPECIAL_CKPT_PATHS = ("last", "best", "hpc")
_RESUMABLE = re.compile(r"^(last(-v?\d+)?|interrupted)\.ckpt$")
#: What a run folder holds before it has trained or evaluated anything.
_SETUP_FILES = {CONFIG, "hparams.yaml"}


def checkpoint_folder(trainer: L.Trainer) -> Path:
    """Where the run's ``ModelCheckpoint`` writes (``.../version_N/checkpoints``)."""
    callback = trainer.checkpoint_callback
    folder = callback.dirpath if isinstance(callback, ModelCheckpoint) else None
    if folder is None:
        folder = Path(trainer.log_dir or trainer.default_root_dir) / CHECKPOINTS
    return Path(folder)


def find_last_checkpoint(runs: Path, dirpath: Path | None = None) -> Path | None:
    """The newest ``last.ckpt`` or ``interrupted.ckpt`` of any run under ``runs`` (``runs/lightning_logs``),
    or in ``dirpath`` (a ``--checkpoint.dirpath`` shared by the runs).

    Lightning looks for ``--ckpt_path last`` only in the folder of the *new* run, which is always
    empty with a versioned logger; this looks in the earlier runs, which is what resuming means.
    """
    files = [*runs.glob(f"*/{CHECKPOINTS}/*.ckpt"), *(dirpath.glob("*.ckpt") if dirpath else [])]
    candidates = [path for path in files if _RESUMABLE.match(path.name)]
    return max(candidates, key=lambda path: path.stat().st_mtime_ns, default=None)


def run_checkpoint(run_dir: Path) -> Path:
    """The checkpoint of a finished run: ``checkpoints/last.ckpt``, else the newest one."""
    last = run_dir / CHECKPOINTS / "last.ckpt"
    if last.is_file():
        return last
    found = sorted(run_dir.glob(f"{CHECKPOINTS}/*.ckpt"), key=lambda path: path.stat().st_mtime)
    if not found:
        raise CheckpointError(
            f"{run_dir}: no checkpoint in {run_dir / CHECKPOINTS}: is this a fit run folder?"
        )
    return found[-1]


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
    logger = config.get("trainer.logger")
    if not isinstance(logger, Namespace) or not logger.get("init_args.save_dir"):
        return None
    return Path(logger["init_args.save_dir"]) / (logger.get("init_args.name") or "lightning_logs")


def reserve_run_folder(config: Namespace) -> Path | None:
    """Create this run's ``version_N`` folder now and tell the logger its version (first process only;
    the others learn the folder from it), so that runs started together never share one."""
    root = logger_root(config)
    if root is None or config.get("trainer.logger.init_args.version") is not None or global_rank() != 0:
        return None
    version = reserve_version(root.parent, root.name)
    config["trainer.logger.init_args.version"] = version
    return root / f"version_{version}"


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
    """The counts of ``val_confusion_matrix.csv`` (``callbacks/reports.py``): rows true, columns predicted."""
    with matrix_csv.open() as file:
        rows = list(csv.reader(file))[1:]
    return torch.tensor([[int(count) for count in row[1:]] for row in rows])


def run_history(run_dir: Path) -> list[dict[str, float]] | None:
    """The run's metrics per epoch, from whichever logger wrote them: the CSV logger's ``metrics.csv``,
    else TensorBoard's event files; ``None`` when the folder has neither."""
    if (run_dir / METRICS).is_file():
        return read_history(run_dir / METRICS)
    events = sorted(run_dir.glob("events.out.tfevents.*"))
    return epoch_rows(row for path in events for row in tensorboard_rows(path)) if events else None


def read_history(metrics_csv: Path) -> list[dict[str, float]]:
    """One dict per epoch (1-based ``epoch``) from the CSV logger's file: the last value of each key."""
    with metrics_csv.open() as file:
        rows = [{key: float(value) for key, value in row.items() if value} for row in csv.DictReader(file)]
    return epoch_rows(rows)


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
