"""``train_model``: the classic notebook recipe, backed by ``ClassifierModule`` and the Trainer."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.loggers import CSVLogger
from torch import nn
from torch.utils.data import DataLoader

from lit_classifier.callbacks import EpochSummary, RunPlots, default_callbacks
from lit_classifier.checkpoints.io import AtomicCheckpointIO
from lit_classifier.checkpoints.runs import reserve_version
from lit_classifier.command.process_group import released_process_group, wait_for_launched
from lit_classifier.command.quiet import quiet_lightning
from lit_classifier.data.digits import DigitsDataModule
from lit_classifier.module import ClassifierModule
from lit_classifier.optim import RecipeSGD


@dataclass
class TrainingResult:
    """What ``train_model`` gives back: the trained module, one dict per epoch, and the Trainer."""

    module: ClassifierModule
    history: list[dict[str, float]] = field(default_factory=list)
    trainer: L.Trainer | None = None
    plots: RunPlots | None = None

    @property
    def model(self) -> nn.Module:
        """The trained network itself."""
        return self.module.model

    def pictures(self) -> list[Path]:
        """The run's learning curves, confusion matrix and misclassified images, once drawn: they are
        drawn in the background after the last epoch, so that the trained model is yours at once."""
        return self.plots.wait() if self.plots is not None else []


def train_model(
    model: nn.Module,
    epochs: int = 8,
    lr: float = 0.05,
    datamodule: L.LightningDataModule | None = None,
    *,
    train_dataloaders: DataLoader | None = None,
    val_dataloaders: DataLoader | None = None,
    num_classes: int | None = None,
    class_names: list[str] | None = None,
    ckpt_path: str | Path | None = None,
    **trainer_kwargs: Any,
) -> TrainingResult:
    """Train ``model`` with SGD (momentum 0.9) and cross-entropy, printing one line per epoch.

    The recipe's signature, on Lightning. The data is ``datamodule`` (any of ``lit_classifier.data``,
    or your own ``LightningDataModule`` with ``num_classes``; the embedded digits by default), or
    plain ``train_dataloaders`` / ``val_dataloaders`` with ``num_classes`` (and optionally
    ``class_names``). The head of ``model`` is sized to the data's classes; ``trainer_kwargs`` go to
    ``lightning.Trainer`` (``accelerator="gpu"``, ``precision="bf16-mixed"``, ...). Metrics, the
    checkpoint and the run's pictures land in ``runs/train_model/version_N`` (the pictures are drawn
    in the background: ``TrainingResult.pictures()`` waits for them). The run has the command line's
    callbacks (``callbacks.default_callbacks``) but the progress bar: a stop by Ctrl+C or SIGTERM
    saves ``interrupted.ckpt``, from which ``ckpt_path=`` resumes, as it resumes any checkpoint of
    the run.

    >>> result = train_model(my_net, epochs=8, lr=0.05)   # doctest: +SKIP
    >>> result.history[-1]["val_acc"]                     # doctest: +SKIP
    """
    if train_dataloaders is None and datamodule is None:
        datamodule = DigitsDataModule()
    if train_dataloaders is not None and datamodule is not None:
        raise ValueError("train_model takes a datamodule or train_dataloaders, not both")
    module = ClassifierModule(
        model, num_classes=num_classes, class_names=class_names, optimizer=partial(RecipeSGD, lr=lr)
    )
    if "logger" not in trainer_kwargs:
        trainer_kwargs["logger"] = CSVLogger(
            "runs", name="train_model", version=reserve_version(Path("runs"), "train_model")
        )
    trainer_kwargs.setdefault("enable_progress_bar", False)
    trainer_kwargs.setdefault("enable_model_summary", False)
    trainer_kwargs.setdefault("plugins", [AtomicCheckpointIO()])  # whole checkpoint files, never half-written
    given = [*trainer_kwargs.pop("callbacks", []), EpochSummary(), RunPlots(background=True)]
    callbacks = default_callbacks(given, progress_bar=False)  # yours first, then one of each of ours
    summary = next(c for c in callbacks if isinstance(c, EpochSummary))
    plots = next(c for c in callbacks if isinstance(c, RunPlots))
    with quiet_lightning(), released_process_group():  # one line per epoch, like the recipe's print
        trainer = L.Trainer(max_epochs=epochs, callbacks=callbacks, **trainer_kwargs)
        if datamodule is not None:
            trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path)
        else:
            trainer.fit(module, train_dataloaders, val_dataloaders, ckpt_path=ckpt_path)
    wait_for_launched(trainer)
    return TrainingResult(module=module, history=summary.history, trainer=trainer, plots=plots)
