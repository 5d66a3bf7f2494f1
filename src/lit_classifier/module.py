"""ClassifierModule: the classic training recipe as a LightningModule around any classifier.

The hand-written recipe (SGD with momentum 0.9, lr 0.05, cross-entropy, ``model.train()`` /
``model.eval()``, moving batches to the GPU, counting correct predictions) becomes a module whose
typed ``__init__`` is also the command line's schema; the Trainer does the device placement, the
mode switching and the epoch loop.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import lightning as L
import torch
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from lightning.pytorch.core.mixins.hparams_mixin import _given_hyperparameters
from torch import Tensor, nn

from lit_classifier.class_report import write_class_report
from lit_classifier.metrics import StageMetrics
from lit_classifier.models.finetune import parameter_groups, scale_learning_rates, set_backbone_trainable
from lit_classifier.models.heads import ClassCountError, check_output_size, resize_head
from lit_classifier.nonfinite import NonFiniteGuard, NonFiniteMode
from lit_classifier.optim import scheduler_config

Batch = Sequence[Tensor]

# The epoch values are reduced over processes by torchmetrics before they are logged, so Lightning's
# advice under DDP to log them with `sync_dist=True` (which would average them again) does not apply.
warnings.filterwarnings("ignore", message=r".*when logging on epoch level in distributed setting")


class ClassifierModule(L.LightningModule):
    """Trains, evaluates and predicts with any ``nn.Module`` that maps images to class logits.

    The class count, class names and image shape come from the data module when training starts
    (``trainer.fit(ClassifierModule(net), datamodule=dm)`` needs nothing else); pass them to use the
    module with plain DataLoaders, or to check them against the data.

    Args:
        model: the network; its final linear layer is resized to ``num_classes`` when it differs
            (an ImageNet torchvision model fine-tunes on 10 classes without edits).
        num_classes: number of classes; ``None`` takes the data module's.
        class_names: one name per class, saved in the checkpoint so predictions can print them.
        input_shape: (channels, height, width) of one image; the network is run once on zeros of
            this shape, so a wrong shape fails at once rather than in the first step.
        lr: learning rate of the default SGD optimizer (0.05: the classic recipe).
        momentum: momentum of the default SGD optimizer (0.9: the classic recipe).
        weight_decay: L2 penalty of the default SGD optimizer.
        label_smoothing: passed to ``nn.CrossEntropyLoss``.
        optimizer: any ``torch.optim`` optimizer by class path; replaces the default SGD.
        scheduler: any ``torch.optim.lr_scheduler`` by class path (or ``lit_classifier.optim``'s);
            one that takes ``total_steps`` (``OneCycleLR``, ``WarmupCosineLR``) gets the run's
            step count from the Trainer.
        scheduler_interval: step the scheduler every ``"step"`` or every ``"epoch"``; by default,
            schedules sized in steps step every step and the others every epoch.
        freeze_backbone_epochs: train only the head (the final linear layer) for this many
            epochs, then everything: fine-tuning a pretrained network without wrecking it. Under
            DDP this needs ``--trainer.strategy ddp_find_unused_parameters_true``.
        backbone_lr_scale: the backbone's learning rate as a fraction of the head's (e.g. 0.1
            when fine-tuning); 1 keeps one parameter group.
        nonfinite: what a NaN or infinite training loss does: ``stop`` training at that step
            with an error naming it, or ``skip`` that batch and count it (one host sync per step
            on a GPU); see ``lit_classifier.nonfinite``.
    """

    train_metrics: StageMetrics
    val_metrics: StageMetrics
    test_metrics: StageMetrics

    def __init__(
        self,
        model: nn.Module,
        num_classes: int | None = None,
        class_names: list[str] | None = None,
        input_shape: tuple[int, int, int] | None = None,
        lr: float = 0.05,
        momentum: float = 0.9,
        weight_decay: float = 0.0,
        label_smoothing: float = 0.0,
        optimizer: OptimizerCallable | None = None,
        scheduler: LRSchedulerCallable | None = None,
        scheduler_interval: Literal["epoch", "step"] | None = None,
        freeze_backbone_epochs: int = 0,
        backbone_lr_scale: float = 1.0,
        nonfinite: NonFiniteMode = "stop",
    ) -> None:
        super().__init__()
        _check_options(lr, momentum, weight_decay, label_smoothing)
        if freeze_backbone_epochs < 0:
            raise ValueError(f"freeze_backbone_epochs must be non-negative, got {freeze_backbone_epochs}")
        if not backbone_lr_scale > 0:
            raise ValueError(f"backbone_lr_scale must be positive, got {backbone_lr_scale}")
        # Through LightningCLI the hyperparameters are the config itself (plain dicts with class
        # paths, so `load_from_checkpoint` rebuilds the network); from Python the objects are left
        # out so that checkpoints hold plain data and load with `weights_only=True`.
        from_cli = _given_hyperparameters.get() is not None
        self.save_hyperparameters(ignore=[] if from_cli else ["model", "optimizer", "scheduler"])
        self.model = model
        self.lr = lr  # an attribute, so Lightning's learning-rate finder can tune it
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.scheduler_interval = scheduler_interval
        self.freeze_backbone_epochs = freeze_backbone_epochs
        self.backbone_lr_scale = backbone_lr_scale
        self.nonfinite_guard = NonFiniteGuard(nonfinite)
        self.criterion = nn.CrossEntropyLoss(label_smoothing=label_smoothing)
        self.num_classes: int | None = None
        self.class_names: list[str] = []
        if num_classes is not None:
            self.adopt_data(num_classes, class_names, input_shape)

    def adopt_data(
        self,
        num_classes: int,
        class_names: list[str] | None = None,
        input_shape: tuple[int, int, int] | None = None,
    ) -> None:
        """Size the head for ``num_classes``, check the network on ``input_shape``, build metrics.

        Records the values in ``hparams`` so the checkpoint knows them.
        """
        if num_classes < 2:
            raise ValueError(f"num_classes must be at least 2, got {num_classes}")
        if class_names is not None and len(class_names) != num_classes:
            raise ValueError(f"class_names has {len(class_names)} names for num_classes={num_classes}")
        resize_head(self.model, num_classes)
        if input_shape is not None:
            input_shape = (int(input_shape[0]), int(input_shape[1]), int(input_shape[2]))
            check_output_size(self.model, num_classes, input_shape)
            self.example_input_array = torch.zeros(1, *input_shape)
        self.num_classes = num_classes
        self.class_names = list(class_names) if class_names else [str(i) for i in range(num_classes)]
        self.hparams.update(num_classes=num_classes, class_names=self.class_names, input_shape=input_shape)
        self.train_metrics = StageMetrics(num_classes)
        self.val_metrics = StageMetrics(num_classes, detailed=True)
        self.test_metrics = StageMetrics(num_classes, detailed=True)

    def setup(self, stage: str) -> None:
        """Take the class count, names and image shape from the data module, or check them."""
        datamodule = getattr(self.trainer, "datamodule", None)
        data_classes = getattr(datamodule, "num_classes", None)
        if datamodule is None or data_classes is None:
            if self.num_classes is None:
                raise ValueError(
                    "ClassifierModule does not know the number of classes: pass num_classes=..., "
                    "or train with a data module that has `num_classes` (see lit_classifier.data)"
                )
            return
        if self.num_classes is None:
            self.adopt_data(data_classes, datamodule.class_names, getattr(datamodule, "dims", None))
        elif self.num_classes != data_classes:
            raise ClassCountError(
                f"the model was built for {self.num_classes} classes but {type(datamodule).__name__} "
                f"has {data_classes}: use a matching data set, or a model trained on this one"
            )

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Refuse a checkpoint trained for another class count, before its weights are copied."""
        saved = checkpoint.get("hyper_parameters", {}).get("num_classes")
        if saved is not None and self.num_classes is not None and saved != self.num_classes:
            raise ClassCountError(
                f"the checkpoint was trained for {saved} classes but the data has {self.num_classes}: "
                "use the data it was trained on, or fine-tune it with a fresh head"
            )

    def forward(self, images: Tensor) -> Tensor:
        return self.model(images)

    def training_step(self, batch: Batch, batch_idx: int) -> Tensor | None:
        loss, logits = self._loss(batch)
        if not self.nonfinite_guard.accept(loss, self.trainer, batch_idx):
            return None  # skipped: no backward pass, no update, not in the epoch's metrics
        self.train_metrics.update(loss, logits, batch[1])
        return loss

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        self._shared_step(batch, self.val_metrics)

    def test_step(self, batch: Batch, batch_idx: int) -> None:
        self._shared_step(batch, self.test_metrics)

    def predict_step(self, batch: Batch | Tensor, batch_idx: int) -> Tensor:
        """Class probabilities; a batch may come with or without its labels."""
        images = batch if isinstance(batch, Tensor) else batch[0]
        return self(images).softmax(dim=-1)

    def _shared_step(self, batch: Batch, metrics: StageMetrics) -> Tensor:
        loss, logits = self._loss(batch)
        metrics.update(loss, logits, batch[1])
        return loss

    def _loss(self, batch: Batch) -> tuple[Tensor, Tensor]:
        images, targets = batch[0], batch[1]
        logits = self(images)
        # A shape check costs nothing (no device sync) and turns a wrong head into a clear error
        # instead of a silent 1000-way softmax or a CUDA device-side assert.
        if logits.ndim != 2 or logits.shape[1] != self.num_classes:
            raise ValueError(
                f"the network returned logits of shape {tuple(logits.shape)}; expected "
                f"(batch, {self.num_classes}) for the data's {self.num_classes} classes"
            )
        return self.criterion(logits, targets), logits

    def on_train_epoch_start(self) -> None:
        if self.freeze_backbone_epochs:
            set_backbone_trainable(self.model, self.current_epoch >= self.freeze_backbone_epochs)

    def on_train_epoch_end(self) -> None:
        self._log_epoch("train", self.train_metrics)
        if (report := self.nonfinite_guard.epoch_report()) is not None:
            self.print(report)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # Never write a checkpoint after a non-finite step (on a GPU its flag is read a step late).
        self.nonfinite_guard.check()

    def on_validation_epoch_end(self) -> None:
        # Also runs for the sanity check; compute() resets, so those batches never reach epoch 1.
        self._log_epoch("val", self.val_metrics)

    def on_test_epoch_end(self) -> None:
        self._log_epoch("test", self.test_metrics)

    def _log_epoch(self, stage: str, metrics: StageMetrics) -> None:
        if not metrics.updated:
            return
        values = metrics.compute()  # already reduced over processes by torchmetrics
        self.log_dict({f"{stage}_{name}": value for name, value in values.items()}, sync_dist=False)
        trainer = self.trainer
        if metrics.confusion is not None and trainer.logger is not None and not trainer.sanity_checking:
            folder = Path(trainer.log_dir or ".")  # asked on every process: a broadcast under DDP
            if trainer.is_global_zero:  # the matrix is already summed over processes
                write_class_report(folder, stage, metrics.confusion, self.class_names)

    def configure_optimizers(self) -> Any:
        groups = parameter_groups(self, self.model, self.backbone_lr_scale)
        if self.optimizer_factory is None:
            optimizer: torch.optim.Optimizer = torch.optim.SGD(
                groups,
                lr=self.lr,
                momentum=self.momentum,
                weight_decay=self.weight_decay,
            )
        else:
            optimizer = self.optimizer_factory(groups)
        scale_learning_rates(optimizer)  # the backbone's share of the head's rate
        if self.scheduler_factory is None:
            return optimizer
        config = scheduler_config(
            self.scheduler_factory,
            optimizer,
            lambda: self.trainer.estimated_stepping_batches,  # only asked of step-sized schedules
            self.scheduler_interval,
        )
        return {"optimizer": optimizer, "lr_scheduler": config}


def _check_options(
    lr: float,
    momentum: float,
    weight_decay: float,
    label_smoothing: float,
) -> None:
    """Reject impossible values when the module is built, before any data is loaded."""
    if not lr > 0:
        raise ValueError(f"lr must be positive, got {lr}")
    if not 0 <= momentum < 1:
        raise ValueError(f"momentum must be in [0, 1), got {momentum}")
    if weight_decay < 0:
        raise ValueError(f"weight_decay must be non-negative, got {weight_decay}")
    if not 0 <= label_smoothing < 1:
        raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
