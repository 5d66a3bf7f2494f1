"""``train_model``: the classic notebook recipe, backed by ``ClassifierModule`` and the Trainer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import lightning as L
from lightning.pytorch.loggers import CSVLogger
from torch import nn

from lit_classifier.callbacks import EpochSummary, RunPlots
from lit_classifier.checkpointing import use_atomic_checkpoints
from lit_classifier.data.base import ClassificationDataModule
from lit_classifier.data.digits import DigitsDataModule
from lit_classifier.module import ClassifierModule


@dataclass
class TrainingResult:
    """What ``train_model`` gives back: the trained module, one dict per epoch, and the Trainer."""

    module: ClassifierModule
    history: list[dict[str, float]] = field(default_factory=list)
    trainer: L.Trainer | None = None

    @property
    def model(self) -> nn.Module:
        """The trained network itself."""
        return self.module.model


def train_model(
    model: nn.Module,
    epochs: int = 8,
    lr: float = 0.05,
    datamodule: ClassificationDataModule | None = None,
    **trainer_kwargs: Any,
) -> TrainingResult:
    """Train ``model`` with SGD (momentum 0.9) and cross-entropy, printing one line per epoch.

    The recipe's signature, on Lightning: ``datamodule`` defaults to the embedded digits, the head
    of ``model`` is sized to the data's classes, and ``trainer_kwargs`` go to ``lightning.Trainer``
    (``accelerator="gpu"``, ``precision="bf16-mixed"``, ...). Metrics and the run's pictures
    (``lit_classifier.plots``) land in ``runs/train_model/version_N``.

    >>> result = train_model(my_net, epochs=8, lr=0.05)   # doctest: +SKIP
    >>> result.history[-1]["val_acc"]                     # doctest: +SKIP
    """
    datamodule = datamodule or DigitsDataModule()
    module = ClassifierModule(
        model,
        num_classes=datamodule.num_classes,
        class_names=datamodule.class_names,
        input_shape=datamodule.dims,
        lr=lr,
    )
    summary = EpochSummary()
    trainer_kwargs.setdefault("logger", CSVLogger("runs", name="train_model"))
    trainer_kwargs.setdefault("enable_progress_bar", False)
    callbacks = [*trainer_kwargs.pop("callbacks", []), summary, RunPlots()]
    trainer = L.Trainer(max_epochs=epochs, callbacks=callbacks, **trainer_kwargs)
    use_atomic_checkpoints(trainer)  # a checkpoint file is whole or absent, never half-written
    trainer.fit(module, datamodule=datamodule)
    return TrainingResult(module=module, history=summary.history, trainer=trainer)
