"""Optimizers and schedules from YAML: each config in configs/optim runs and its learning rate moves
as the schedule says."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import pytest
import torch

from helpers import FAST, cli, read_metrics, run_dir
from lit_classifier.optim import WarmupCosineLR, scheduler_config

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
# Two epochs of 5 steps, the learning rate logged after every step.
STEPS = [
    "--trainer.limit_train_batches=5",
    "--trainer.limit_val_batches=1",
    "--trainer.max_epochs=2",
    "--trainer.log_every_n_steps=1",
    "--trainer.callbacks+=LearningRateMonitor",
    "--trainer.callbacks.logging_interval=step",
]


def learning_rates(folder: Path, column: str = "lr-RecipeSGD") -> list[float]:
    """The learning rate of each training step, as LearningRateMonitor logged it."""
    return [float(row[column]) for row in read_metrics(folder) if row.get(column)]


def test_adamw_config_replaces_the_default_sgd() -> None:
    result = cli("fit", *FAST, "--config", str(CONFIGS / "optim" / "adamw.yaml"))

    optimizer = result.trainer.optimizers[0]
    assert isinstance(optimizer, torch.optim.AdamW)
    assert optimizer.defaults["lr"] == 0.001
    assert optimizer.defaults["weight_decay"] == 0.05


def test_cosine_warmup_climbs_then_decays_every_step() -> None:
    result = cli("fit", *STEPS, "--config", str(CONFIGS / "optim" / "cosine_warmup.yaml"))

    rates = learning_rates(run_dir(result))
    assert len(rates) == 10  # one per step: the Trainer gave the schedule its 10 steps
    peak = rates.index(max(rates))
    assert peak == 1  # 10% of 10 steps warm up
    assert rates[0] < rates[1] == pytest.approx(0.05)  # up to the recipe's lr
    assert all(a > b for a, b in zip(rates[peak:], rates[peak + 1 :], strict=False))  # then down
    assert rates[-1] < 0.05 * 0.05


def test_onecycle_rises_to_max_lr_and_anneals_every_step() -> None:
    result = cli("fit", *STEPS, "--config", str(CONFIGS / "optim" / "onecycle.yaml"))

    rates = learning_rates(run_dir(result))
    assert len(rates) == 10
    assert rates[0] == pytest.approx(0.1 / 25)  # max_lr / div_factor
    assert max(rates) == pytest.approx(0.1, rel=0.05)
    assert rates.index(max(rates)) in (2, 3)  # 30% of the way
    assert rates[-1] < rates[0]


def test_step_lr_config_steps_once_per_epoch() -> None:
    result = cli("fit", *STEPS, "--trainer.max_epochs=4", "--config", str(CONFIGS / "optim" / "step.yaml"))

    rates = learning_rates(run_dir(result))
    assert rates[:15] == [0.05] * 15  # epochs 1-3
    assert rates[15:] == pytest.approx([0.005] * 5)  # epoch 4, after step_size=3 epochs


def test_step_sized_schedule_without_a_trainer_names_what_is_missing() -> None:
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)

    with pytest.raises(ValueError, match="WarmupCosineLR needs total_steps >= 1, got None"):
        WarmupCosineLR(optimizer)


def test_interval_follows_the_schedule_unless_given() -> None:
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    one_cycle = partial(torch.optim.lr_scheduler.OneCycleLR, max_lr=0.1)
    step_lr = partial(torch.optim.lr_scheduler.StepLR, step_size=1)

    sized = scheduler_config(one_cycle, optimizer, 100)
    per_epoch = scheduler_config(step_lr, optimizer, 100)
    forced = scheduler_config(one_cycle, optimizer, 100, interval="epoch")

    assert (sized["interval"], sized["scheduler"].total_steps) == ("step", 100)
    assert per_epoch["interval"] == "epoch"
    assert forced["interval"] == "epoch"
