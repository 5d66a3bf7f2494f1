"""The run's checkpoints: Lightning's ``ModelCheckpoint``, keeping the newest epoch's file
(``last.ckpt`` links to it) and the best epoch's (``best.ckpt``) by default."""

from __future__ import annotations

import os
import posixpath
from pathlib import Path, PurePath, PurePosixPath
from typing import Any, Literal

import lightning as L
from fsspec.core import strip_protocol
from fsspec.utils import get_protocol
from lightning.pytorch.callbacks import ModelCheckpoint

from lit_classifier.checkpoints.io import is_local
from lit_classifier.checkpoints.runs import BEST, checkpoint_folder
from lit_classifier.framework import ended_epoch


class RunCheckpoint(ModelCheckpoint):
    """Saves the run's checkpoint after every epoch, as Lightning's ``ModelCheckpoint`` does.

    One file per run by default: the newest ``epoch=N-step=M.ckpt``, with ``last.ckpt`` a link to
    it (a copy doubled the disk a run used: 2 x 45 MB for a ResNet-18). Ask for more with its
    options (``--checkpoint.monitor val_acc --checkpoint.mode max --checkpoint.save_top_k 3``).

    Args:
        save_last: ``"link"``: ``last.ckpt`` links to the newest checkpoint; ``True``: a copy.
        kwargs: any other option of ``ModelCheckpoint``.
    """

    def __init__(self, save_last: bool | Literal["link"] | None = "link", **kwargs: Any) -> None:
        super().__init__(save_last=save_last, **kwargs)

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        # A step-triggered save after an epoch's last batch would resume into the next epoch without
        # this one's validation; the epoch-end save follows in a moment and resumes exactly.
        if not ended_epoch(trainer):
            super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # Lightning's ModelCheckpoint saves `last` here whenever `save_last` is set, even in a
        # fast_dev_run, which disables checkpointing and the loggers (it landed in the current folder).
        if not trainer.fast_dev_run:  # type: ignore[attr-defined]  # set by Lightning, not declared
            super().on_train_end(trainer, pl_module)

    def on_load_checkpoint(
        self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        # A ModelCheckpoint removes the files its state names once it saves newer ones, and Lightning
        # keeps those inside its folder without resolving `..`: a file's `.../checkpoints/../../x` made
        # a resume delete x. Every callback's `on_load_checkpoint` runs before any `load_state_dict`, so
        # here the state of each of the run's ModelCheckpoints (this one, any the user adds) is confined.
        self._claim_last(trainer.ckpt_path)
        states = checkpoint.get("callbacks") or {}
        for callback in trainer.checkpoint_callbacks:
            state = states.get(callback.state_key)
            if isinstance(callback, ModelCheckpoint) and isinstance(state, dict):
                states[callback.state_key] = confined(state, callback.dirpath)

    def _claim_last(self, resumed: object) -> None:
        """A fit that continues its run in the folder it resumes from replaces that run's ``last.ckpt``
        (Lightning would write ``last-v1.ckpt`` beside it when the saved state does not say it is ours:
        a checkpoint of other options, ``--checkpoint.every_n_train_steps``)."""
        if self.dirpath is None or not isinstance(resumed, str | Path) or not is_local(resumed):
            return
        folder = Path(self.dirpath)
        if Path(resumed).parent.absolute() == folder.absolute():
            self.last_model_path = str(folder / f"{self.CHECKPOINT_NAME_LAST}{self.FILE_EXTENSION}")


class BestCheckpoint(ModelCheckpoint):
    """Keeps best.ckpt, the best epoch's checkpoint by validation accuracy, beside last.ckpt.

    ``--ckpt_path best`` finds it there: the last epoch is not always the best one, and
    ``last.ckpt`` alone lost it. Overwritten whole when an epoch does better, so it is one
    file per run; an epoch that does not validate changes nothing.

    Args:
        monitor: the metric that ranks the epochs.
        mode: ``"max"``: higher is better; ``"min"``: lower is.
        filename: the file's name, without ``.ckpt``; one file, replaced by each better epoch's.
        kwargs: any other option of ``ModelCheckpoint`` (``dirpath``: by default the folder of the
            run's own checkpoints, ``--checkpoint.dirpath`` included).
    """

    def __init__(
        self,
        monitor: str | None = "val_acc",
        mode: Literal["min", "max"] = "max",
        filename: str | None = BEST.removesuffix(".ckpt"),
        **kwargs: Any,
    ) -> None:
        kwargs = {**kwargs, "save_top_k": 1, "save_last": False, "enable_version_counter": False}
        super().__init__(monitor=monitor, mode=mode, filename=filename, **kwargs)

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if self.dirpath is None and stage == "fit":  # the run's checkpoints are set up by now: beside them
            self.dirpath = str(checkpoint_folder(trainer))
        super().setup(trainer, pl_module, stage)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.monitor in trainer.callback_metrics:  # an epoch without validation has nothing to rank
            super().on_train_epoch_end(trainer, pl_module)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.monitor in trainer.callback_metrics:
            super().on_validation_end(trainer, pl_module)


def confined(state: dict[str, Any], folder: str | Path | None) -> dict[str, Any]:
    """``ModelCheckpoint``'s saved ``state`` with the files it would remove kept only when they are
    inside ``folder`` (the new run's checkpoint folder); the others are forgotten, never removed."""
    top_k = state.get("best_k_models")
    top_k = top_k if isinstance(top_k, dict) else {}
    kept = {path: score for path, score in top_k.items() if inside(path, folder)}
    kth = state.get("kth_best_model_path") or ""
    if kth and not (isinstance(kth, str) and kth in kept):  # a full top k removes it next: one of them
        kept, kth = {}, ""
    paths = {key: state.get(key) for key in ("best_model_path", "last_model_path")}
    return {
        **state,
        **{key: path if inside(path, folder) else "" for key, path in paths.items()},
        "best_k_models": kept,
        "kth_best_model_path": kth,
    }


def inside(path: object, folder: str | Path | None) -> bool:
    """Whether ``path`` names a file below ``folder`` once its ``..`` and links are resolved: what
    removing it (as Lightning does, through fsspec) would remove. Another protocol never is."""
    if not isinstance(path, str) or folder is None or get_protocol(path) != get_protocol(str(folder)):
        return False
    if is_local(path):
        where, top = (PurePath(os.path.realpath(strip_protocol(str(name)))) for name in (path, folder))
    else:
        where, top = (PurePosixPath(posixpath.normpath(str(name))) for name in (path, folder))
    return top in where.parents
