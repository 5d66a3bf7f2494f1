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

from lit_classifier.data.interfaces import class_count, image_shape
from lit_classifier.errors import FitError

log = logging.getLogger(__name__)


def final_linear(model: nn.Module) -> tuple[nn.Module, str, nn.Linear] | None:
    """The last ``nn.Linear`` registered in ``model``, with its parent and attribute name.

    For the usual classifiers (torchvision's ``fc``, ``classifier[-1]``, ``heads.head``, timm's
    ``head``) the last registered linear layer is the one that produces the logits.
    """
    # named_modules() walks depth first in registration order: a hidden linear layer nested in an
    # earlier block comes before a head registered after that block.
    linear = [name for name, module in model.named_modules() if name and isinstance(module, nn.Linear)]
    if not linear:
        return None
    parent_name, _, name = linear[-1].rpartition(".")
    parent = model.get_submodule(parent_name)
    child = parent.get_submodule(name)
    assert isinstance(child, nn.Linear)
    return parent, name, child


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
        raise FitError(
            f"{type(model).__name__} cannot run on the data's images, shaped {tuple(input_shape)} "
            f"(channels, height, width): {error}. For a 3-channel network on grayscale data set "
            "`to_rgb: true` in the data module."
        ) from error
    finally:
        model.train(was_training)
    if logits.ndim != 2 or logits.shape[1] != num_classes:
        raise FitError(
            f"{type(model).__name__} outputs shape {tuple(logits.shape)} for a batch of 2, but the data "
            f"has {num_classes} classes: its last layer must give (batch, {num_classes}) logits."
        )


def fit_network(
    model: nn.Module, num_classes: int, class_names: list[str] | None, input_shape: Any
) -> tuple[int, int, int] | None:
    """Size ``model``'s head for ``num_classes`` and run it on zeros shaped ``input_shape`` (when
    given); returns that shape as a tuple of ints."""
    check_classes(num_classes, class_names)
    resize_head(model, num_classes)
    if input_shape is None:
        return None
    shape = (int(input_shape[0]), int(input_shape[1]), int(input_shape[2]))
    check_output_size(model, num_classes, shape)
    return shape


def check_logits(logits: torch.Tensor, num_classes: int | None) -> torch.Tensor:
    """``logits``, if shaped (batch, ``num_classes``); a clear error instead of an unnoticed 1000-way
    softmax or a CUDA device-side assert. A shape check costs nothing: no device sync."""
    if logits.ndim != 2 or logits.shape[1] != num_classes:
        raise ValueError(
            f"the network returned logits of shape {tuple(logits.shape)}; expected "
            f"(batch, {num_classes}) for the data's {num_classes} classes"
        )
    return logits


def check_classes(num_classes: int, class_names: list[str] | None) -> None:
    """At least two classes, and one name per class when names are given."""
    if num_classes < 2:
        raise ValueError(f"num_classes must be at least 2, got {num_classes}")
    if class_names is not None and len(class_names) != num_classes:
        raise ValueError(f"class_names has {len(class_names)} names for num_classes={num_classes}")


def check_data_fits(num_classes: int | None, input_shape: Any, datamodule: Any) -> None:
    """The model knows its class count, and the data module (if it knows its own) agrees on it and
    on the image shape."""
    data_classes = class_count(datamodule)
    if num_classes is None:
        raise ValueError(
            "ClassifierModule does not know the number of classes: pass num_classes=..., "
            "or train with a data module that has `num_classes` (see lit_classifier.data)"
        )
    if data_classes is not None and num_classes != data_classes:
        raise FitError(
            f"the model was built for {num_classes} classes but {type(datamodule).__name__} "
            f"has {data_classes}: use a matching data set, or a model trained on this one"
        )
    check_input_shape(input_shape, image_shape(datamodule), datamodule)


def check_input_shape(expected: Any, given: Any, datamodule: object) -> None:
    """A network built for one image shape must not be fed another by a re-configured data module."""
    if expected is not None and given is not None and tuple(expected) != tuple(given):
        source = datamodule if isinstance(datamodule, str) else type(datamodule).__name__
        raise FitError(
            f"the model was built for images shaped {tuple(expected)} (channels, height, width) but "
            f"{source} gives {tuple(given)}: drop the option that changes the image size or channels, "
            "or train a model for this shape"
        )
