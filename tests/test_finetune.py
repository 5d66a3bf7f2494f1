"""Fine-tuning: the head trains first, the backbone joins later at a fraction of the head's rate."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import lightning as L
import pytest
import torch

from helpers import cli
from lit_classifier import ClassifierModule, DigitsDataModule
from lit_classifier.callbacks import HeadFirstFinetuning
from lit_classifier.models import SmallCNN

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


class LearningRates(L.Callback):
    """The learning rate of every parameter group after each training step."""

    def __init__(self) -> None:
        self.steps: list[list[float]] = []

    def on_train_batch_end(self, trainer: L.Trainer, *args: object) -> None:
        self.steps.append([group["lr"] for group in trainer.optimizers[0].param_groups])


def fit(module: ClassifierModule, *callbacks: L.Callback, epochs: int = 2) -> None:
    trainer = L.Trainer(
        max_epochs=epochs, limit_train_batches=3, limit_val_batches=0, logger=False,
        enable_progress_bar=False, enable_checkpointing=False, callbacks=list(callbacks),
    )  # fmt: skip
    trainer.fit(module, datamodule=DigitsDataModule())


def test_backbone_learns_at_a_fraction_of_the_heads_rate() -> None:
    rates = LearningRates()

    fit(ClassifierModule(SmallCNN()), HeadFirstFinetuning(backbone_lr_scale=0.1), rates, epochs=1)

    assert rates.steps[0] == [0.05, pytest.approx(0.005)]  # from the first step on


def test_frozen_backbone_stays_put_then_trains() -> None:
    module = ClassifierModule(SmallCNN())
    snapshots: list[dict[str, torch.Tensor]] = []

    class Snapshot(L.Callback):
        def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
            snapshots.append({k: v.detach().clone() for k, v in pl_module.model.named_parameters()})

        def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
            self.on_train_start(trainer, pl_module)

    fit(module, HeadFirstFinetuning(freeze_backbone_epochs=1), Snapshot())

    initial, frozen, thawed = snapshots
    for name, start in initial.items():
        if name.startswith("head."):
            assert not torch.equal(frozen[name], start), name  # the head trains from the start
        else:
            assert torch.equal(frozen[name], start), name  # the backbone waits one epoch
            assert not torch.equal(thawed[name], frozen[name]), name  # then trains


def test_a_one_cycle_schedule_keeps_the_backbones_share_after_it_joins() -> None:
    one_cycle = partial(torch.optim.lr_scheduler.OneCycleLR, max_lr=0.1)
    rates = LearningRates()

    fit(ClassifierModule(SmallCNN(), scheduler=one_cycle), HeadFirstFinetuning(1, 0.1), rates, epochs=3)

    assert all(len(step) == 1 for step in rates.steps[:3])  # the head alone in epoch 1
    joined = rates.steps[3:]
    assert len({head for head, _ in joined}) == len(joined)  # the schedule still moves every step
    assert all(backbone == pytest.approx(0.1 * head) for head, backbone in joined)


def test_no_options_change_nothing() -> None:
    rates = LearningRates()

    fit(ClassifierModule(SmallCNN()), HeadFirstFinetuning(), rates, epochs=1)

    assert rates.steps[0] == [0.05]


def test_finetune_config_freezes_then_trains_the_backbone_at_a_tenth_of_the_rate() -> None:
    result = cli(
        "fit",
        "--config",
        str(CONFIGS / "models" / "finetune_resnet18.yaml"),
        "--model.init_args.model.init_args.weights=null",  # the test never downloads
        "--data.init_args.to_rgb=true",
        "--data.batch_size=8",
        "--trainer.limit_train_batches=2",
        "--trainer.limit_val_batches=0",
        "--trainer.max_epochs=2",
    )

    head, backbone = result.trainer.optimizers[0].param_groups
    assert head["lr"] == 0.01 and backbone["lr"] == pytest.approx(0.001)
    assert all(p.requires_grad for p in result.model.parameters())  # thawed for the second epoch


@pytest.mark.parametrize(
    ("option", "message"),
    [({"freeze_backbone_epochs": -1}, "non-negative"), ({"backbone_lr_scale": 0}, "positive")],
)
def test_impossible_options_are_refused(option: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        HeadFirstFinetuning(**option)
