"""Any torchvision or timm classifier by name, with pretrained weights selectable in YAML.

``torchvision.models.resnet18`` as a class path already works (without weights); these wrappers
add weights by name and turn a failed download into an error that says what to do offline::

    model:
      class_path: lit_classifier.models.TorchvisionModel
      init_args: {name: resnet18, weights: DEFAULT}
"""

from __future__ import annotations

import urllib.error
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from lit_classifier.errors import UnavailableError


class TorchvisionModel(nn.Module):
    """``torchvision.models.get_model(name, weights=weights)``.

    Args:
        name: a torchvision classification model (``resnet18``, ``mobilenet_v3_small``,
            ``efficientnet_b0``, ...).
        weights: ``None`` for random weights, ``"DEFAULT"`` for the best available, or a member
            of the model's weights enum (``"IMAGENET1K_V1"``, ``"ResNet18_Weights.IMAGENET1K_V1"``).
            Pretrained weights expect images normalised like their training data (ImageNet mean
            and std for the ImageNet weights).
        kwargs: further arguments of the torchvision builder (``dropout``, ...).
    """

    def __init__(self, name: str, weights: str | None = None, kwargs: dict[str, Any] | None = None) -> None:
        super().__init__()
        import torchvision

        try:
            weights_enum = torchvision.models.get_model_weights(name)
        except ValueError as error:
            raise ValueError(f"unknown torchvision model {name!r}: {error}") from error
        # jsonargparse hands `--model.model.weights=null` to a nested class as the string "None".
        if weights is not None and weights.lower() in ("none", "null"):
            weights = None
        chosen = None if weights is None else _weights_member(weights_enum, weights)
        try:
            self.net = torchvision.models.get_model(name, weights=chosen, **(kwargs or {}))
        except urllib.error.URLError as error:
            assert chosen is not None  # without weights nothing is downloaded
            raise offline_error(f"{name} {chosen}", chosen.url, error) from error
        # The side of the images the weights were trained on: an image folder keeps it (``folder``).
        self.pretrained_image_size = None if chosen is None else int(chosen.transforms().crop_size[0])

    def forward(self, images: Tensor) -> Tensor:
        return self.net(images)


def _weights_member(weights_enum: Any, weights: str) -> Any:
    member = weights.rsplit(".", 1)[-1]  # "ResNet18_Weights.DEFAULT" or "DEFAULT"
    try:
        return weights_enum[member]
    except KeyError:
        names = ", ".join(["DEFAULT", *(choice.name for choice in weights_enum)])
        raise ValueError(
            f"unknown weights {weights!r} for {weights_enum.__name__}: choose one of {names}"
        ) from None


def offline_error(what: str, url: str, error: BaseException) -> UnavailableError:
    """The error for weights that could not be downloaded: what, from where, why, and what to do.

    A server that answered (404, 403, ...) is named with its answer: the machine is online and the
    weights are not there. Anything else is a machine that reached no server.
    """
    status = getattr(error, "code", None) or getattr(getattr(error, "response", None), "status_code", None)
    if isinstance(status, int):
        where = getattr(error, "url", None) or getattr(getattr(error, "response", None), "url", None) or url
        return UnavailableError(
            f"could not download the pretrained weights {what}: {where} answered HTTP {status}, so they "
            "are not there; check the model's name and its weights, or train without pretrained weights"
        )
    cache = Path(torch.hub.get_dir()) / "checkpoints"
    return UnavailableError(
        f"could not download the pretrained weights {what} from {url} ({error}); this machine seems "
        f"to be offline. Download them once on a machine with a network into the cache ({cache}; "
        "TORCH_HOME moves it) and copy the cache here, or train without pretrained weights."
    )


class TimmModel(nn.Module):
    """``timm.create_model(name, pretrained=pretrained)``, for any of timm's models.

    timm is optional: it is imported when the model is built, with a clear error when missing.

    Args:
        name: a timm model name (``resnet18``, ``vit_tiny_patch16_224``, ...).
        pretrained: download and load timm's pretrained weights (from the Hugging Face Hub).
        kwargs: further arguments of ``timm.create_model`` (``drop_rate``, ``in_chans``, ...).
    """

    def __init__(self, name: str, pretrained: bool = False, kwargs: dict[str, Any] | None = None) -> None:
        super().__init__()
        try:
            import timm
        except ImportError as error:
            raise ImportError(
                f"TimmModel({name!r}) needs the timm package, which is not installed: pip install timm"
            ) from error
        try:
            self.net = timm.create_model(name, pretrained=pretrained, **(kwargs or {}))
        except (urllib.error.URLError, OSError) as error:
            if not pretrained:
                raise
            raise offline_error(f"of timm's {name}", "the Hugging Face Hub", error) from error
        # The side of the images the weights were trained on: an image folder keeps it (``folder``).
        config: dict[str, Any] = (getattr(self.net, "pretrained_cfg", None) or {}) if pretrained else {}
        input_size = config.get("input_size")
        self.pretrained_image_size = None if input_size is None else int(input_size[-1])

    def forward(self, images: Tensor) -> Tensor:
        return self.net(images)
