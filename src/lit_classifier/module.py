"""ClassifierModule: the classic training recipe as a LightningModule around any classifier.

The hand-written recipe (SGD with momentum 0.9, lr 0.05, cross-entropy, counting correct predictions)
becomes a module whose typed ``__init__`` is also the command line's schema; the Trainer does the
device placement, the mode switching and the epoch loop. Policies around the recipe (fine-tuning,
non-finite losses, reports, pictures) are callbacks (``lit_classifier.callbacks``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import lightning as L
import torch
import torch.nn.functional as F
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import Tensor, nn
from typing_extensions import Self

from lit_classifier.checkpoints.load import check_checkpoint_fits, load_module
from lit_classifier.checkpoints.record import Record, describe_data
from lit_classifier.data.augment import TTA, check_tta, tta_views
from lit_classifier.data.interfaces import ListsLabels, class_count, datamodule_of, image_shape, named_classes
from lit_classifier.errors import ConfigError
from lit_classifier.metrics import StageMetrics
from lit_classifier.models.heads import check_data_fits, check_logits, fit_network
from lit_classifier.optim import RecipeSGD, needs_total_steps, scheduler_config

Batch = Sequence[Tensor]


class ClassifierModule(L.LightningModule):
    """Trains, evaluates and predicts with any ``nn.Module`` that maps images to class logits.

    The class count, class names and image shape come from the data module when training starts;
    pass them to use the module with plain DataLoaders, or to check them against the data.

    Args:
        model: the network; its final linear layer is resized to ``num_classes`` when it differs
            (an ImageNet torchvision model fine-tunes on 10 classes without edits).
        num_classes: number of classes; ``None`` takes the data module's.
        class_names: one name per class, saved in the checkpoint so predictions can print them.
        input_shape: (channels, height, width) of one image; the network is run once on zeros of
            this shape, so a wrong shape fails at once rather than in the first step.
        label_smoothing: passed to ``nn.CrossEntropyLoss``.
        optimizer: builds the optimizer from the parameters: the recipe's SGD (lr 0.05, momentum 0.9)
            by default, or any ``torch.optim`` class by class path (``--model.optimizer.lr`` edits it).
        scheduler: any ``torch.optim.lr_scheduler`` class (or ``lit_classifier.optim``'s); one that
            takes ``total_steps`` (``OneCycleLR``, ``WarmupCosineLR``) gets the run's step count.
        scheduler_interval: step the scheduler every ``"step"`` or ``"epoch"``; by default, schedules
            sized in steps step every step and the others every epoch.
        class_weights: weigh each class's share of the training loss: ``"balanced"`` by the inverse
            of its count in the training split (n / (classes x count), scikit-learn's rule: every
            class then counts as much as any other), or one weight per class. Validation and test
            losses stay unweighted, comparable between runs.
        tta: test-time augmentation for ``test``, ``predict``, ``serve`` and ``predict_images``:
            ``"flip"`` ranks the mean logits of each image and its mirror, ``"crops"`` of four shifted
            crops of both too; only for data whose training mirrors its images (``augment.flip``).
            Validation in training is left as it is.
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
        label_smoothing: float = 0.0,
        optimizer: OptimizerCallable = RecipeSGD,
        scheduler: LRSchedulerCallable | None = None,
        scheduler_interval: Literal["epoch", "step"] | None = None,
        class_weights: Literal["balanced"] | list[float] | None = None,
        tta: TTA = "none",
    ) -> None:
        super().__init__()
        if not 0 <= label_smoothing < 1:
            raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
        if isinstance(class_weights, list) and not (class_weights and min(class_weights) >= 0):
            raise ValueError(f"class_weights must be one number of at least 0 per class, got {class_weights}")
        # Built once on a placeholder, so that a bad value (lr -1) fails now, not when training starts.
        optimizer([nn.Parameter(torch.zeros(1))])
        self.save_hyperparameters(ignore=["model", "optimizer", "scheduler"])
        # What a checkpoint carries besides the weights, as plain data: objects are described, never
        # pickled, and a loader builds from a description only what is on its allowlist
        # (lit_classifier.checkpoints.trust). Written in one place: on_save_checkpoint.
        self.record = Record.describing(self, model, optimizer, scheduler)
        self.model = model
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.scheduler_interval = scheduler_interval
        self.tta = tta
        self.class_weights = class_weights
        # The training loss's weights, from `class_weights` and the data at `setup`: not saved with the
        # weights (a checkpoint without them stays loadable), the checkpoint's class_weights says how.
        self.loss_weights: Tensor | None
        self.register_buffer("loss_weights", None, persistent=False)
        self.criterion = nn.CrossEntropyLoss(label_smoothing=label_smoothing)
        if num_classes is not None:
            self.adopt_data(num_classes, class_names, input_shape)

    def adopt_data(self, num_classes: int, class_names: Any = None, input_shape: Any = None) -> None:
        """Size the head for ``num_classes``, check the network on ``input_shape`` (channels, height,
        width), build the metrics; the record keeps the values, so the checkpoint knows them."""
        input_shape = fit_network(self.model, num_classes, class_names, input_shape)
        if input_shape is not None:
            self.example_input_array = torch.zeros(1, *input_shape)
        self.record.num_classes = num_classes
        self.record.class_names = list(class_names) if class_names else [str(i) for i in range(num_classes)]
        self.record.input_shape = input_shape
        self.train_metrics = StageMetrics(num_classes, skip_nonfinite=True)
        self.val_metrics = StageMetrics(num_classes, detailed=True)
        self.test_metrics = StageMetrics(num_classes, detailed=True)

    def setup(self, stage: str) -> None:
        """Take the class count, names and image shape from the data module, or check them."""
        datamodule = datamodule_of(self.trainer)  # plain DataLoaders: none
        if datamodule is not None:  # recorded so that `predict` can prepare new images the same way
            self.record.data = describe_data(datamodule)
        self.adopt_data_of(datamodule)
        check_data_fits(self.num_classes, self.record.input_shape, datamodule)
        if stage == "fit":
            self.loss_weights = loss_weights(self.class_weights, self.num_classes, datamodule)
        if stage in ("test", "predict"):
            data = type(datamodule).__name__ if datamodule is not None else "data of plain DataLoaders"
            check_tta(self.tta, getattr(datamodule, "augment", None), data)

    def adopt_data_of(self, datamodule: Any, require_shape: bool = False) -> None:
        """``adopt_data`` with ``datamodule``'s class count, names and image shape, unless the module
        knows its classes already or the data module does not (nor its image shape, when
        ``require_shape``). The command calls it as soon as both exist: a callback's ``setup`` runs
        before the module's, and one that copies the module there (Lightning's
        ``StochasticWeightAveraging``) needs the network built, its lazy layers run on that shape."""
        data_classes, shape = class_count(datamodule), image_shape(datamodule)
        if self.num_classes is None and data_classes is not None and (shape or not require_shape):
            self.adopt_data(data_classes, named_classes(datamodule), shape)  # names: a user's may have none

    @property
    def num_classes(self) -> int | None:
        """The classes the head is sized for; ``None`` until the data is known."""
        return self.record.num_classes

    @property
    def class_names(self) -> list[str]:
        """One name per class, in label order."""
        return self.record.class_names

    def metric_names(
        self, stages: Sequence[str] = ("train", "val"), num_classes: int | None = None
    ) -> list[str]:
        """The metrics this module logs at the end of each epoch of ``stages`` (``val_loss``, ...), for
        ``num_classes`` (default: its own): what a callback can monitor. Monitors are checked against
        them before fitting; a subclass that logs more names them here too."""
        classes = num_classes or self.num_classes or 0
        return [
            f"{stage}_{name}"
            for stage in stages
            for name in StageMetrics.names(classes, detailed=stage != "train")  # as in adopt_data
        ]

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """The record, with the init arguments Lightning put there: what loading needs, as plain data."""
        checkpoint["hyper_parameters"] = self.record.as_hyper_parameters(self.hparams)

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Refuse a checkpoint made for other data or another network, before its weights are copied."""
        check_checkpoint_fits(checkpoint, self.num_classes, self.record.input_shape, self.state_dict())

    def forward(self, images: Tensor) -> Tensor:
        return self.model(images)

    def training_step(self, batch: Batch, batch_idx: int) -> Tensor:
        return self._shared_step(batch, self.train_metrics, weights=self.loss_weights)[0]

    def validation_step(self, batch: Batch, batch_idx: int) -> Tensor:
        """The logits, for callbacks: the run's pictures keep the surest mistakes from them."""
        return self._shared_step(batch, self.val_metrics)[1]

    def test_step(self, batch: Batch, batch_idx: int) -> None:
        self._shared_step(batch, self.test_metrics, self.evaluation_logits)

    def predict_step(self, batch: Batch | Tensor, batch_idx: int) -> Tensor:
        """Class probabilities; a batch may come with or without its labels."""
        images = batch if isinstance(batch, Tensor) else batch[0]
        return self.evaluation_logits(images).softmax(dim=-1)

    def evaluation_logits(self, images: Tensor) -> Tensor:
        """The logits that ``test``, ``predict``, ``serve`` and ``predict_images`` rank: the network's,
        averaged over the views of ``tta`` (``data.augment.tta_views``) when it is set."""
        if self.tta == "none":
            return self(images)
        return self(tta_views(images, self.tta)).unflatten(0, (-1, len(images))).mean(dim=0)

    def _shared_step(
        self,
        batch: Batch,
        metrics: StageMetrics,
        logits_of: Callable[[Tensor], Tensor] | None = None,
        weights: Tensor | None = None,
    ) -> tuple[Tensor, Tensor]:
        images, targets = batch[0], batch[1]
        logits = check_logits((logits_of or self)(images), self.num_classes)
        if weights is None:
            loss = self.criterion(logits, targets)
        else:
            smoothing = self.criterion.label_smoothing
            loss = F.cross_entropy(logits, targets, weight=weights, label_smoothing=smoothing)
        metrics.update(loss, logits, targets)
        return loss, logits

    def on_train_epoch_end(self) -> None:
        self._log_epoch("train", self.train_metrics)

    def on_validation_epoch_end(self) -> None:
        # Also runs for the sanity check; compute() resets, so those batches never reach epoch 1.
        self._log_epoch("val", self.val_metrics)

    def on_test_epoch_end(self) -> None:
        self._log_epoch("test", self.test_metrics)

    def _log_epoch(self, stage: str, metrics: StageMetrics) -> None:
        # Already reduced over processes by torchmetrics; sync_dist averages equal numbers, once per epoch.
        if metrics.updated:
            self.log_dict({f"{stage}_{k}": v for k, v in metrics.compute().items()}, sync_dist=True)

    def configure_optimizers(self) -> Any:
        # Parameters frozen by a fine-tuning callback join later, in a group of their own.
        optimizer = self.optimizer_factory([p for p in self.parameters() if p.requires_grad])
        if self.scheduler_factory is None:
            return optimizer
        steps = self.trainer.estimated_stepping_batches if needs_total_steps(self.scheduler_factory) else None
        config = scheduler_config(self.scheduler_factory, optimizer, steps, self.scheduler_interval)
        return {"optimizer": optimizer, "lr_scheduler": config}

    @classmethod
    def load_from_checkpoint(  # type: ignore[override]
        cls,
        checkpoint_path: str | Path,
        map_location: Any = None,
        hparams_file: str | Path | None = None,
        strict: bool | None = None,
        weights_only: bool | None = None,
        **kwargs: Any,
    ) -> Self:
        """The module of a checkpoint, building only what ``lit_classifier.checkpoints.trust``
        allows: ``model=`` gives the network (yours, unless ``trusted_modules=[...]``); no optimizer
        or scheduler is built from the file. See ``lit_classifier.checkpoints.load.load_module``."""
        if hparams_file is not None:
            raise ValueError("hparams_file is not used: the checkpoint holds its own plain-data record")
        path = Path(checkpoint_path)
        return load_module(cls, ClassifierModule, path, map_location, strict, weights_only, **kwargs)


def loss_weights(
    class_weights: Literal["balanced"] | list[float] | None, num_classes: int | None, datamodule: Any
) -> Tensor | None:
    """The training loss's weight per class (``ClassifierModule``'s ``class_weights``), checked
    against ``num_classes``; ``"balanced"`` counts the labels of ``datamodule``'s training split,
    the same in every process of a distributed run (each holds the whole split)."""
    if class_weights is None or num_classes is None:
        return None
    if isinstance(class_weights, list):
        if len(class_weights) != num_classes:
            raise ConfigError(
                f"class_weights has {len(class_weights)} weights for {num_classes} classes: one per class"
            )
        return torch.tensor(class_weights, dtype=torch.float32)
    split = getattr(datamodule, "train_set", None)
    if not isinstance(split, ListsLabels):
        data = type(datamodule).__name__ if datamodule is not None else "data of plain DataLoaders"
        raise ConfigError(
            f"class_weights=balanced counts the training split's labels, which the {data} does not list "
            "(data.interfaces.ListsLabels): give one weight per class instead"
        )
    counts = torch.bincount(torch.as_tensor(split.labels, dtype=torch.long), minlength=num_classes)
    # A class with no training sample never weighs in the loss: its weight only has to be finite.
    return (counts.sum() / (num_classes * counts.clamp(min=1))).float()
