"""Fit any classifier to a data set's class count and check it runs on the data's images.

Users hand ``ClassifierModule`` a torchvision model built for ImageNet (1000 outputs), a timm model,
the tutorial CNN or their own class. Rather than make them type the class count a second time, the
module replaces the final linear layer when its size is wrong and says so.
"""

from __future__ import annotations

import logging
from typing import Any

import torch
from torch import nn

from lit_classifier.errors import InputError

log = logging.getLogger(__name__)


class ClassCountError(InputError, ValueError):
    """The model (or its checkpoint) and the data disagree on the number of classes."""


class InputShapeError(InputError, ValueError):
    """The network cannot run on images of the data's shape."""


def final_linear(model: nn.Module) -> tuple[nn.Module, str, nn.Linear] | None:
    """The last ``nn.Linear`` registered in ``model``, with its parent and attribute name.

    For the usual classifiers (torchvision's ``fc``, ``classifier[-1]``, ``heads.head``, timm's
    ``head``) the last registered linear layer is the one that produces the logits.
    """
    found = None
    for parent in model.modules():
        for name, child in parent.named_children():
            if isinstance(child, nn.Linear):
                found = (parent, name, child)
    return found


def resize_head(model: nn.Module, num_classes: int) -> None:
    """Replace the final linear layer by a fresh one with ``num_classes`` outputs, if it differs."""
    found = final_linear(model)
    if found is None:
        return
    parent, name, head = found
    if head.out_features == num_classes:
        return
    log.info(
        "%s: replacing the head %s (%d outputs) by one with %d outputs for the data's classes",
        type(model).__name__,
        name,
        head.out_features,
        num_classes,
    )
    new_head = nn.Linear(head.in_features, num_classes, bias=head.bias is not None)
    setattr(parent, name, new_head.to(device=head.weight.device, dtype=head.weight.dtype))


@torch.no_grad()
def check_output_size(model: nn.Module, num_classes: int, input_shape: tuple[int, ...]) -> None:
    """Run ``model`` once on zeros shaped like the data, before any training.

    This materialises lazy layers (so the optimizer sees real parameters) and turns a wrong input
    size or class count into one clear error instead of a failure deep inside the first step.
    """
    was_training = model.training
    model.eval()
    try:
        logits = model(torch.zeros(2, *input_shape))
    except RuntimeError as error:
        raise InputShapeError(
            f"{type(model).__name__} cannot run on the data's images, shaped {tuple(input_shape)} "
            f"(channels, height, width): {error}. For a 3-channel network on grayscale data set "
            "`to_rgb: true` in the data module."
        ) from error
    finally:
        model.train(was_training)
    if logits.ndim != 2 or logits.shape[1] != num_classes:
        raise ClassCountError(
            f"{type(model).__name__} outputs shape {tuple(logits.shape)} for a batch of 2, but the data "
            f"has {num_classes} classes: its last layer must give (batch, {num_classes}) logits."
        )


def known_classes(datamodule: object) -> int | None:
    """The data module's class count; ``None`` when it has none, or learns it only from training
    data it was not given (predicting new images with the checkpoint's classes)."""
    try:
        return getattr(datamodule, "num_classes", None)
    except RuntimeError:
        return None


def check_input_shape(expected: Any, given: Any, datamodule: object) -> None:
    """A network built for one image shape must not be fed another by a re-configured data module."""
    if expected is not None and given is not None and tuple(expected) != tuple(given):
        source = datamodule if isinstance(datamodule, str) else type(datamodule).__name__
        raise InputShapeError(
            f"the model was built for images shaped {tuple(expected)} (channels, height, width) but "
            f"{source} gives {tuple(given)}: drop the option that changes the image size or channels, "
            "or train a model for this shape"
        )
