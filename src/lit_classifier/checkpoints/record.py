"""Rebuild what a checkpoint describes, building nothing that the user did not choose.

A checkpoint written by ``ClassifierModule`` keeps a plain-data record in ``hyper_parameters``: the
class count, class names and image shape, and descriptions (``class_path`` + ``init_args``) of the
network, the optimizer, the scheduler and the data module. Loading it:

- the network is rebuilt from its description only when ``lit_classifier.checkpoints.trust`` allows it (or it
  is given: ``model=`` in Python, ``--model.model`` on the command line);
- the data module likewise (for ``predict`` on new images, ``lit-classifier-plot``);
- the optimizer and scheduler descriptions are a record only: nothing ever builds them.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import lightning as L
from torch import Tensor, nn

from lit_classifier.checkpoints.io import load_checkpoint_file
from lit_classifier.checkpoints.trust import build, trusted_data, trusted_network
from lit_classifier.errors import CheckpointError, FitError, short_repr
from lit_classifier.models.heads import check_input_shape
from lit_classifier.specs import callable_spec, class_path_of, init_parameters, is_plain

ModuleT = TypeVar("ModuleT", bound=L.LightningModule)

#: Record entries that describe objects; they never reach ``__init__`` from a file.
DESCRIPTIONS = ("model", "optimizer", "scheduler", "data")


def record(checkpoint: Mapping[str, Any], source: str = "the checkpoint") -> dict[str, Any]:
    """The checkpoint's ``hyper_parameters`` (``{}`` when it has none or they are not a dict), whose
    class count, class names and image shape, if there, are checked: a ``CheckpointError`` naming
    ``source`` and the entry otherwise, rather than a confusing failure later."""
    hparams = checkpoint.get("hyper_parameters")
    saved = dict(hparams) if isinstance(hparams, Mapping) else {}
    count, names, shape = (saved.get(key) for key in ("num_classes", "class_names", "input_shape"))
    if count is not None and not _positive_int(count):
        raise CheckpointError(f"{source}: its num_classes is {count!r}, not a whole number of classes")
    if names is not None and not (isinstance(names, list | tuple) and all(isinstance(n, str) for n in names)):
        raise CheckpointError(f"{source}: its class_names is {short_repr(names)}, not a list of names")
    if names is not None and count is not None and len(names) != count:
        raise CheckpointError(f"{source}: it has {len(names)} class_names for num_classes {count}")
    if shape is not None and not (
        isinstance(shape, list | tuple) and len(shape) == 3 and all(_positive_int(side) for side in shape)
    ):
        raise CheckpointError(
            f"{source}: its input_shape is {short_repr(shape)}, not three whole numbers (channels, height, "
            "width)"
        )
    return saved


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def network_spec(
    hparams: Mapping[str, Any], source: str, trusted_modules: Sequence[str] = ()
) -> dict[str, Any]:
    """The checked description of the checkpoint's network, or an error saying what to do."""
    spec = hparams.get("model")
    if isinstance(spec, dict) and spec.get("init_args", {}) is None:
        raise CheckpointError(
            f"{source} does not say how its network {spec.get('class_path')} was built (it was built in "
            "Python): give it yourself, --model.model on the command line or model=... in Python"
        )
    if spec is None:
        raise CheckpointError(
            f"{source} does not describe its network: give it with --model.model (model=...)"
        )
    return trusted_network(spec, source, trusted_modules)


def data_spec(
    hparams: Mapping[str, Any],
    source: str,
    trusted_modules: Sequence[str] = (),
    given: Collection[str] = (),
) -> dict[str, Any] | None:
    """The checked description of the data module the checkpoint was trained on, if it has one
    (``given``: the options the command gives it, see ``trust.local_data``)."""
    spec = hparams.get("data")
    return None if spec is None else trusted_data(spec, source, trusted_modules, given)


def load_module(
    cls: type[ModuleT],
    path: Path,
    map_location: Any = None,
    strict: bool | None = None,
    weights_only: bool | None = None,
    *,
    model: nn.Module | None = None,
    trusted_modules: Sequence[str] = (),
    **kwargs: Any,
) -> ModuleT:
    """``cls`` with the weights of the checkpoint at ``path``, on the CPU unless ``map_location``.

    Args:
        cls: the LightningModule class (``ClassifierModule`` or a subclass); never taken from the file.
        path: the checkpoint file.
        map_location: where to put the module afterwards (``"cuda"``, a device).
        strict: whether every weight must match (``None``: yes).
        weights_only: ``False`` reads pickled objects too: only for files you trust.
        model: the network; ``None`` rebuilds it from the checkpoint's description (allowlisted).
        trusted_modules: modules whose ``nn.Module`` classes a checkpoint may name.
        kwargs: further ``__init__`` arguments; they take precedence over the checkpoint's.
    """
    checkpoint = load_checkpoint_file(path, map_location="cpu", weights_only=weights_only)
    source = str(path)
    hparams = record(checkpoint, source)
    network = model if model is not None else build(network_spec(hparams, source, trusted_modules))
    arguments = {k: v for k, v in hparams.items() if k in init_parameters(cls) and k not in DESCRIPTIONS}
    module = cls(network, **{k: v for k, v in arguments.items() if is_plain(v)}, **kwargs)
    # Keep the descriptions, so that a checkpoint written by this module again still has them.
    kept = ("data",) if model is not None else ("model", "data")
    module.hparams.update({key: hparams[key] for key in kept if key in hparams})
    try:
        module.on_load_checkpoint(checkpoint)
        module.load_state_dict(checkpoint["state_dict"], strict=strict is not False)
    except (CheckpointError, FitError) as error:
        raise type(error)(f"{source}: {error}") from None
    return module.to(map_location) if map_location is not None else module


def describe_objects(model: nn.Module, optimizer: Any, scheduler: Any) -> dict[str, Any]:
    """The record of a module's network (its class; the command line adds its arguments), optimizer
    and scheduler (class and plain arguments): data only, for the checkpoint."""
    network = {"class_path": class_path_of(model), "init_args": None}
    return {"model": network, "optimizer": callable_spec(optimizer), "scheduler": callable_spec(scheduler)}


def describe_data(datamodule: L.LightningDataModule) -> dict[str, Any]:
    """The record of a data module: its class path and its init arguments (``hparams``)."""
    return {"class_path": class_path_of(datamodule), "init_args": dict(datamodule.hparams)}


def check_checkpoint_fits(
    checkpoint: Mapping[str, Any], num_classes: int | None, input_shape: Any, weights: Mapping[str, Tensor]
) -> None:
    """Refuse a checkpoint made for another class count, image shape or architecture."""
    saved = record(checkpoint)
    if (
        saved.get("num_classes") is not None
        and num_classes is not None
        and saved["num_classes"] != num_classes
    ):
        raise FitError(
            f"the checkpoint was trained for {saved['num_classes']} classes but the data has {num_classes}: "
            "use the data it was trained on, or fine-tune it with a fresh head"
        )
    check_input_shape(saved.get("input_shape"), input_shape, "the data")
    check_weights(weights, checkpoint["state_dict"])


def check_weights(expected: Mapping[str, Tensor], saved: Mapping[str, Any]) -> None:
    """Raise naming the first weight where the checkpoint and the network differ in name or shape."""
    for name, tensor in expected.items():
        if name not in saved:
            raise FitError(
                f"it has no weight {name} that this network has: it was trained with another architecture; "
                "give the network it was trained with (--model.model), or leave the network to the checkpoint"
            )
        shape = tuple(getattr(saved[name], "shape", ()))
        if shape != tuple(tensor.shape):
            raise FitError(
                f"its weight {name} is shaped {shape} but this network's is {tuple(tensor.shape)}: it was "
                "trained with another width or architecture; give the network it was trained with "
                "(--model.model), or leave the network to the checkpoint"
            )
    extra = sorted(set(saved) - set(expected))
    if extra:
        raise FitError(
            f"it has a weight {extra[0]} that this network lacks: it was trained with another architecture"
        )
