"""Fine-tuning a pretrained network: the head learns at full rate, the backbone slower or not at all.

The head is the final linear layer (``heads.final_linear``), the one ``ClassifierModule`` replaces
for the data's classes; everything else is the backbone. A fresh head on a pretrained backbone
sends large, random gradients back through it in the first steps; freezing the backbone for an
epoch or two, and then training it at a fraction of the head's learning rate, keeps the pretrained
features.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from lit_classifier.models.heads import final_linear


def head_parameters(model: nn.Module) -> list[nn.Parameter]:
    """The parameters of ``model``'s final linear layer (none when it has no linear layer)."""
    found = final_linear(model)
    return [] if found is None else list(found[2].parameters())


def parameter_groups(module: nn.Module, network: nn.Module, backbone_lr_scale: float) -> list[dict[str, Any]]:
    """Optimizer parameter groups of ``module``: the head of ``network``, then everything else.

    The backbone group carries ``lr_scale``; ``scale_learning_rates`` applies it once the
    optimizer has filled in its default learning rate. One plain group when the scale is 1.
    """
    if backbone_lr_scale == 1.0:
        return [{"params": list(module.parameters())}]
    head = {id(p) for p in head_parameters(network)}
    if not head:
        raise ValueError(
            f"backbone_lr_scale={backbone_lr_scale} needs a head: {type(network).__name__} has no "
            "final nn.Linear layer"
        )
    backbone = [p for p in module.parameters() if id(p) not in head]
    return [
        {"params": [p for p in module.parameters() if id(p) in head], "name": "head"},
        {"params": backbone, "name": "backbone", "lr_scale": backbone_lr_scale},
    ]


def scale_learning_rates(optimizer: Any) -> None:
    """Multiply each group's learning rate by its ``lr_scale`` (before any scheduler reads them)."""
    for group in optimizer.param_groups:
        group["lr"] = group["lr"] * group.get("lr_scale", 1.0)


def set_backbone_trainable(network: nn.Module, trainable: bool) -> None:
    """Freeze or unfreeze every parameter of ``network`` but its head's.

    Frozen parameters get no gradient, so the optimizers skip them entirely (no momentum, no
    weight decay). Batch-norm statistics still update in training mode.
    """
    head = {id(p) for p in head_parameters(network)}
    for parameter in network.parameters():
        if id(parameter) not in head:
            parameter.requires_grad_(trainable)
