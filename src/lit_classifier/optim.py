"""The recipe's optimizer, learning-rate schedules, and the glue that gives them what they need.

``RecipeSGD`` is the classic recipe's optimizer (SGD, lr 0.05, momentum 0.9) as a class whose
defaults are those values, so the command line shows them and ``--model.optimizer.lr 0.01`` edits
them; any ``torch.optim`` class replaces it. Any ``torch.optim.lr_scheduler`` class works as
``ClassifierModule(scheduler=...)``. Schedules
sized in optimizer steps (``OneCycleLR``, ``WarmupCosineLR``) need the run's total step count,
which only the Trainer knows; ``scheduler_config`` passes it (``trainer.estimated_stepping_batches``)
to any scheduler that takes ``total_steps`` and was not given one, and steps such schedules after
every optimizer step rather than every epoch.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial
from typing import Any, Literal

from torch.optim import SGD, Optimizer
from torch.optim.lr_scheduler import LambdaLR, LRScheduler

from lit_classifier.specs import factory_target, init_parameters

Interval = Literal["epoch", "step"]


class RecipeSGD(SGD):
    """``torch.optim.SGD`` with the classic recipe's defaults: lr 0.05, momentum 0.9.

    Args:
        params: the parameters to optimise.
        lr: learning rate (0.05: the recipe's, for a batch of 64).
        momentum: momentum factor (0.9: the recipe's).
        weight_decay: L2 penalty.
        nesterov: Nesterov momentum.
    """

    def __init__(
        self,
        params: Any,
        lr: float = 0.05,
        momentum: float = 0.9,
        weight_decay: float = 0.0,
        nesterov: bool = False,
    ) -> None:
        super().__init__(params, lr=lr, momentum=momentum, weight_decay=weight_decay, nesterov=nesterov)


class WarmupCosineLR(LambdaLR):
    """Linear warm-up from 0 to the optimizer's learning rate, then cosine decay, per step.

    Args:
        optimizer: the wrapped optimizer.
        total_steps: optimizer steps of the whole run; ``ClassifierModule`` fills it in from the
            Trainer when it is left out.
        warmup_fraction: share of the steps spent warming up (0.05: enough to keep a large
            learning rate from wrecking batch-norm statistics in the first steps).
        min_lr_fraction: the final learning rate, as a fraction of the peak.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        total_steps: int | None = None,
        warmup_fraction: float = 0.05,
        min_lr_fraction: float = 0.0,
    ) -> None:
        if total_steps is None or total_steps < 1:
            raise ValueError(
                f"WarmupCosineLR needs total_steps >= 1, got {total_steps} (ClassifierModule fills "
                "it in from the Trainer's estimated_stepping_batches)"
            )
        if not 0 <= warmup_fraction < 1:
            raise ValueError(f"warmup_fraction must be in [0, 1), got {warmup_fraction}")
        self.total_steps = total_steps
        self.warmup_steps = round(warmup_fraction * total_steps)
        self.min_lr_fraction = min_lr_fraction
        super().__init__(optimizer, self.factor)

    def factor(self, step: int) -> float:
        """The learning rate after ``step`` optimizer steps, as a fraction of the peak."""
        if step < self.warmup_steps:
            return (step + 1) / (self.warmup_steps + 1)
        progress = min(1.0, (step - self.warmup_steps) / max(1, self.total_steps - self.warmup_steps))
        cosine = 0.5 * (1 + math.cos(math.pi * progress))
        return self.min_lr_fraction + (1 - self.min_lr_fraction) * cosine


SchedulerFactory = Callable[..., LRScheduler]


def needs_total_steps(factory: SchedulerFactory) -> bool:
    """Whether the schedule is sized in optimizer steps and was not told how many there are."""
    return "total_steps" in _parameters(factory) and _given(factory, "total_steps") is None


def scheduler_config(
    factory: SchedulerFactory,
    optimizer: Optimizer,
    total_steps: int | float | None = None,
    interval: Interval | None = None,
) -> dict[str, Any]:
    """Build the scheduler and Lightning's ``lr_scheduler`` config for it.

    Args:
        factory: the scheduler class, or a ``functools.partial`` of one (what the command line
            builds from ``--model.scheduler``).
        total_steps: the run's optimizer steps, for a schedule that ``needs_total_steps``.
        interval: ``"step"`` or ``"epoch"``; ``None`` steps schedules sized in steps (those that
            take ``total_steps``) every step, and the others every epoch.
    """
    kwargs = {"total_steps": int(total_steps)} if needs_total_steps(factory) and total_steps else {}
    scheduler = factory(optimizer, **kwargs)
    sized_in_steps = "total_steps" in _parameters(factory)
    return {"scheduler": scheduler, "interval": interval or ("step" if sized_in_steps else "epoch")}


def _parameters(factory: SchedulerFactory) -> set[str]:
    try:
        return set(init_parameters(factory_target(factory)))
    except (TypeError, ValueError):  # a builtin or an object without a signature
        return set()


def _given(factory: SchedulerFactory, name: str) -> Any:
    return factory.keywords.get(name) if isinstance(factory, partial) else None
