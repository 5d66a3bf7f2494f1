"""Lightning's stock callbacks as a run shows them: their monitors checked before any work, and one
line for what they decided (why training stopped before its last epoch, the batch size a finder chose).

Lightning says what ``EarlyStopping``, the ``Timer`` of ``max_time`` and ``BatchSizeFinder`` did in
INFO logs, which the commands keep quiet (``command.quiet``), and without the epoch; a misspelt
``monitor`` it finds only after the first epoch, in a traceback. ``EpochSummary`` calls these.
"""

from __future__ import annotations

import difflib
from datetime import timedelta

import lightning as L
from lightning.pytorch.callbacks import BatchSizeFinder, EarlyStopping, ModelCheckpoint, Timer
from lightning.pytorch.callbacks.early_stopping import EarlyStoppingReason
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

from lit_classifier.callbacks.checkpoint import BestCheckpoint, RunCheckpoint
from lit_classifier.callbacks.early_stopping import EarlyStop
from lit_classifier.data.base import ClassificationDataModule
from lit_classifier.data.interfaces import class_count, datamodule_of
from lit_classifier.errors import ConfigError
from lit_classifier.framework import callbacks_of
from lit_classifier.module import ClassifierModule

#: What ModelCheckpoint can monitor besides the logged metrics (its ``_monitor_candidates``).
CHECKPOINT_COUNTERS = ("epoch", "step")
#: Methods a subclass may override without logging anything of its own.
_NOT_LOGGING = {"__init__", "configure_optimizers", "metric_names"}


def check_monitors(trainer: L.Trainer, pl_module: L.LightningModule) -> None:
    """Refuse the ``monitor`` of a ``ModelCheckpoint`` or ``EarlyStopping`` that names no metric the
    module logs, with a did-you-mean among those it does. Only for a ``ClassifierModule`` whose
    ``metric_names`` are all it logs (``names_all_its_metrics``); Lightning checks the others."""
    if not isinstance(pl_module, ClassifierModule) or not names_all_its_metrics(pl_module):
        return
    num_classes = pl_module.num_classes or class_count(datamodule_of(trainer))
    if num_classes is None:  # plain DataLoaders and no class count yet: which metrics is not known
        return
    every = pl_module.metric_names(("train", "val"), num_classes)
    stages = ("train", "val") if trainer.enable_validation else ("train",)
    logged = pl_module.metric_names(stages, num_classes)
    callbacks = callbacks_of(trainer)
    for callback in callbacks:
        if not isinstance(callback, ModelCheckpoint | EarlyStopping) or callback.monitor is None:
            continue
        extra = CHECKPOINT_COUNTERS if isinstance(callback, ModelCheckpoint) else ()
        if callback.monitor not in (*logged, *extra):
            if isinstance(callback, BestCheckpoint) and callback.monitor in every:
                continue  # a run that does not validate has no best epoch: best.ckpt is not written
            raise ConfigError(_unknown_monitor(callback, type(pl_module).__name__, logged, every))


def _unknown_monitor(callback: L.Callback, module: str, logged: list[str], every: list[str]) -> str:
    monitor = str(getattr(callback, "monitor", ""))
    options = {
        RunCheckpoint: "--checkpoint.monitor",
        BestCheckpoint: "--best.monitor",
        EarlyStop: "--early_stopping.monitor",
    }
    option = options.get(type(callback))
    where = f"{option} {monitor}" if option else f"{type(callback).__name__}(monitor={monitor!r})"
    if monitor in every:
        return (
            f"{where}: {monitor} is logged by validation, which this run does not do "
            "(--trainer.limit_val_batches 0, or no validation data): monitor one of "
            f"{', '.join(logged)}"
        )
    close = difflib.get_close_matches(monitor, logged, n=1)
    hint = f"; did you mean {close[0]}?" if close else ""
    return f"{where}: {module} logs no metric of that name{hint} (it logs {', '.join(logged)})"


def names_all_its_metrics(module: ClassifierModule) -> bool:
    """Whether ``module.metric_names()`` is all it logs: it is a ``ClassifierModule``, or a subclass
    that names its metrics itself or overrides nothing through which it could log more."""
    own: set[str] = set()
    for klass in type(module).__mro__:
        if klass is ClassifierModule:
            break
        own.update(vars(klass))
    if "metric_names" in own:
        return True
    overridden = {name for name in own if hasattr(ClassifierModule, name) and not name.startswith("__")}
    return not (overridden - _NOT_LOGGING)


def stop_reason(trainer: L.Trainer) -> str | None:
    """Why training ended before its last epoch (``EarlyStopping``'s reason, the ``max_time`` limit,
    ``max_steps``, a callback's ``trainer.should_stop``); ``None`` when it ran them all."""
    epoch, max_epochs = trainer.current_epoch, trainer.max_epochs
    if max_epochs is not None and max_epochs > 0 and epoch >= max_epochs:
        return None
    callbacks = callbacks_of(trainer)
    for callback in callbacks:
        # stopped_epoch: the epoch it stopped in, counted from 0; a restored state may be an old run's.
        if (
            isinstance(callback, EarlyStopping)
            and callback.stopping_reason != EarlyStoppingReason.NOT_STOPPED
            and callback.stopped_epoch >= trainer.current_epoch - 1
        ):
            message = (callback.stopping_reason_message or callback.stopping_reason.value).strip()
            return f"EarlyStopping: {message.removesuffix('Signaling Trainer to stop.').strip()}"
    for timer in (callback for callback in callbacks if isinstance(callback, Timer)):
        remaining = timer.time_remaining()
        if remaining is not None and remaining <= 0:
            limit = timedelta(seconds=round(timer.time_elapsed() + remaining))
            return f"the time limit of {limit} ran out (max_time)"
    if 0 <= trainer.max_steps <= trainer.global_step:
        return f"reached max_steps={trainer.max_steps}"
    if trainer.should_stop:
        return "a callback stopped training (trainer.should_stop)"
    return None


def batch_size_line(trainer: L.Trainer) -> str | None:
    """``batch size 1168, chosen by BatchSizeFinder``: the size a finder set before training."""
    callbacks = callbacks_of(trainer)
    for callback in callbacks:
        if isinstance(callback, BatchSizeFinder) and callback.optimal_batch_size is not None:
            # Our data modules take a size past the training split as the whole split (each process's
            # share), which the finder's last doubling asks for: the size the loaders use is theirs.
            datamodule = datamodule_of(trainer)
            if isinstance(datamodule, ClassificationDataModule):
                return f"batch size {datamodule.batch_size}, chosen by BatchSizeFinder"
            return f"batch size {callback.optimal_batch_size}, chosen by BatchSizeFinder"
    return None


def best_line(trainer: L.Trainer) -> str | None:
    """``the best epoch (val_acc 0.9741) is kept in .../best.ckpt``: after an early stop, where the
    best epoch's weights are, by the first checkpoint callback with a monitor (``best.ckpt``'s by default)."""
    callback = next((c for c in callbacks_of(trainer) if isinstance(c, ModelCheckpoint) and c.monitor), None)
    score = callback.best_model_score if callback is not None else None
    if callback is None or score is None or not callback.best_model_path:
        return None
    return f"the best epoch ({callback.monitor} {float(score):.4f}) is kept in {callback.best_model_path}"


def checkpoint_line(trainer: L.Trainer) -> str | None:
    """``checkpoints in ...``, where the run's checkpoints are, with a logger that names its runs
    itself (MLflow, W&B): Lightning puts them in ``save_dir/<experiment>/<run>/checkpoints``, and the
    folder the other lines name (``trainer.log_dir``: the config, the reports) is the ``save_dir``."""
    callback = trainer.checkpoint_callback
    folder = callback.dirpath if isinstance(callback, ModelCheckpoint) else None
    if folder is None or not trainer.loggers or isinstance(trainer.loggers[0], CSVLogger | TensorBoardLogger):
        return None
    return f"checkpoints in {folder}"
