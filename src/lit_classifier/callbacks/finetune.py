"""Fine-tuning a pretrained network: the new head learns first, the backbone joins later and slower.

The head is the network's final linear layer (``models.heads.final_linear``), the one
``ClassifierModule`` replaces for the data's classes; everything else is the backbone. A fresh head
on a pretrained backbone sends large, random gradients back through it in the first steps;
freezing the backbone for an epoch or two, and then training it at a fraction of the head's
learning rate, keeps the pretrained features. Built on Lightning's ``BaseFinetuning``, which also
saves and restores the parameter groups when a run resumes.
"""

from __future__ import annotations

import lightning as L
from lightning.pytorch.callbacks import BaseFinetuning
from torch import nn
from torch.nn.parameter import UninitializedParameter
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

from lit_classifier.models.heads import final_linear
from lit_classifier.module import ClassifierModule


class HeadFirstFinetuning(BaseFinetuning):
    """Fine-tunes a pretrained network: the head alone first, then the backbone at a lower rate.

    Only the head trains for ``freeze_backbone_epochs``; then the backbone too, at
    ``backbone_lr_scale`` times the head's learning rate (in a parameter group of its own).

    Frozen parameters get no gradient, so the optimizer skips them entirely (no momentum, no weight
    decay); batch-norm statistics still update in training mode. A schedule sees the backbone's group
    from the epoch it joins: its scheduler keys (``initial_lr``, ``max_lr``, ...) are the head's,
    scaled, so the two rates keep their ratio. With both options at their defaults nothing changes.
    Under DDP, freezing needs ``--trainer.strategy ddp_find_unused_parameters_true``.

    Args:
        freeze_backbone_epochs: epochs in which only the head trains.
        backbone_lr_scale: the backbone's learning rate as a fraction of the head's (e.g. 0.1).
    """

    def __init__(self, freeze_backbone_epochs: int = 0, backbone_lr_scale: float = 1.0) -> None:
        super().__init__()
        if freeze_backbone_epochs < 0:
            raise ValueError(f"freeze_backbone_epochs must be non-negative, got {freeze_backbone_epochs}")
        if not backbone_lr_scale > 0:
            raise ValueError(f"backbone_lr_scale must be positive, got {backbone_lr_scale}")
        self.freeze_backbone_epochs = freeze_backbone_epochs
        self.backbone_lr_scale = backbone_lr_scale

    @property
    def asked_for(self) -> bool:
        """Whether either option changes anything."""
        return self.freeze_backbone_epochs > 0 or self.backbone_lr_scale != 1.0

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if self.asked_for and any(isinstance(p, UninitializedParameter) for p in pl_module.parameters()):
            # Lightning sets callbacks up before the module, whose setup sizes the head and
            # materialises lazy layers; the head must be the final one before anything is frozen.
            pl_module.setup(stage)
        super().setup(trainer, pl_module, stage)

    def freeze_before_training(self, pl_module: L.LightningModule) -> None:
        if self.asked_for:
            for parameter in backbone_parameters(network_of(pl_module)):
                parameter.requires_grad_(False)

    def finetune_function(self, pl_module: L.LightningModule, epoch: int, optimizer: Optimizer) -> None:
        if not self.asked_for or epoch != self.freeze_backbone_epochs:
            return
        head_group = optimizer.param_groups[0]
        network = network_of(pl_module)
        head = final_linear(network)
        modules = [m for m in self.flatten_modules(network) if head is None or m is not head[2]]
        self.unfreeze_and_add_param_group(modules, optimizer, lr=head_group["lr"] * self.backbone_lr_scale)
        backbone_group = optimizer.param_groups[-1]
        for key, value in head_group.items():  # what schedules keep per group, at the backbone's scale
            if key not in backbone_group:
                backbone_group[key] = value * self.backbone_lr_scale if key.endswith("lr") else value
        for config in pl_module.trainer.lr_scheduler_configs:
            schedule = config.scheduler  # ReduceLROnPlateau keeps no base rates
            if isinstance(schedule, LRScheduler) and len(schedule.base_lrs) < len(optimizer.param_groups):
                schedule.base_lrs.append(schedule.base_lrs[0] * self.backbone_lr_scale)


def network_of(pl_module: L.LightningModule) -> nn.Module:
    """The network a ``ClassifierModule`` wraps, or any other LightningModule itself."""
    return pl_module.model if isinstance(pl_module, ClassifierModule) else pl_module


def backbone_parameters(network: nn.Module) -> list[nn.Parameter]:
    """Every parameter of ``network`` but its head's (the final linear layer)."""
    head = final_linear(network)
    if head is None:
        raise ValueError(f"fine-tuning needs a head: {type(network).__name__} has no final nn.Linear layer")
    skip = {id(p) for p in head[2].parameters()}
    return [p for p in network.parameters() if id(p) not in skip]
