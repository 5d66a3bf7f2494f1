"""A module rebuilt from a checkpoint, and the checks that a checkpoint fits the network and data.

Loading builds nothing the user did not choose: the module is of the class the checkpoint records
when it is the caller's class or a subclass of it, and the allowlist permits it (``module_class``:
the one place that decides, for ``load_from_checkpoint`` and the command line alike), with the
init arguments the checkpoint records (``module_arguments``); the network comes from ``model=`` or,
if not given, from the record's description when ``lit_classifier.checkpoints.trust`` allows it and
its size fits the file's weights (``trust.trusted_network``); the optimizer and scheduler are never built
from a file.
A checkpoint made for another class count, image shape or architecture is refused, naming the first
difference, before any weight is copied.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar

import lightning as L
from torch import Tensor, nn

from lit_classifier.checkpoints.io import load_checkpoint_file
from lit_classifier.checkpoints.record import Record
from lit_classifier.checkpoints.trust import build, trusted_module, trusted_network
from lit_classifier.errors import CheckpointError, FitError
from lit_classifier.models.heads import check_input_shape
from lit_classifier.specs import class_path_of, init_parameters, is_plain


class RecordedModule(Protocol):
    """What this module builds and fills: a module made from a network and init arguments, which
    keeps the ``Record`` it writes into its checkpoints (``ClassifierModule``, which lies above)."""

    record: Record

    def __init__(self, model: nn.Module, *args: Any, **kwargs: Any) -> None: ...

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None: ...

    def load_state_dict(
        self, state_dict: Mapping[str, Any], strict: bool = True, assign: bool = False
    ) -> Any: ...

    def to(self, *args: Any, **kwargs: Any) -> Any: ...


ModuleT = TypeVar("ModuleT", bound=RecordedModule)


def load_module(
    cls: type[ModuleT],
    family: type[L.LightningModule],
    path: Path,
    map_location: Any = None,
    strict: bool | None = None,
    weights_only: bool | None = None,
    *,
    model: nn.Module | None = None,
    trusted_modules: Sequence[str] = (),
    **kwargs: Any,
) -> ModuleT:
    """A module with the weights of the checkpoint at ``path``, on the CPU unless ``map_location``:
    of the class the checkpoint records, if that is ``cls`` or a subclass of it (``module_class``).

    Args:
        cls: the LightningModule class (``ClassifierModule`` or a subclass), or a base of the one to build.
        family: the class every module class a checkpoint names must derive from (``ClassifierModule``).
        path: the checkpoint file.
        map_location: where to put the module afterwards (``"cuda"``, a device).
        strict: whether every weight must match (``None``: yes).
        weights_only: ``False`` reads pickled objects too: only for files you trust.
        model: the network; ``None`` rebuilds it from the checkpoint's description (allowlisted).
        trusted_modules: modules whose ``nn.Module`` and module classes a checkpoint may name.
        kwargs: further ``__init__`` arguments; they take precedence over the checkpoint's.
    """
    checkpoint = load_checkpoint_file(path, map_location="cpu", weights_only=weights_only)
    source = str(path)
    record = Record.read(checkpoint, source)
    if model is not None:
        network = model
    else:
        network = build(trusted_network(record.network, source, trusted_modules, checkpoint["state_dict"]))
    built = module_class(record, source, cls, family, trusted_modules)
    accepted = init_parameters(built)
    arguments = module_arguments(record, built)
    arguments.update({k: v for k, v in record.trained_for().items() if k in accepted})
    module = built(network, **{**arguments, **kwargs})
    # Keep the descriptions, so that a checkpoint written by this module again still has them.
    module.record.data = record.data
    if model is None:
        module.record.network = record.network
    try:
        module.on_load_checkpoint(checkpoint)
        module.load_state_dict(checkpoint["state_dict"], strict=strict is not False)
    except (CheckpointError, FitError) as error:
        raise type(error)(f"{source}: {error}") from None
    return module.to(map_location) if map_location is not None else module


def module_class(
    record: Record,
    source: str,
    chosen: type[ModuleT],
    family: type[L.LightningModule],
    trusted_modules: Sequence[str] = (),
) -> type[ModuleT]:
    """The class a checkpoint read from ``source`` is rebuilt as: the one its ``record`` names, when
    that is ``chosen`` (the caller's: ``ClassifierModule`` unless the command or the Python call names
    another) or a subclass of it, and the allowlist permits it as a module of ``family``
    (``trust.trusted_module``); else ``chosen``. A checkpoint that names none was written before
    classes were recorded."""
    if record.module is None or record.module == class_path_of(chosen):
        return chosen  # the caller's own class: nothing is imported for it
    recorded = trusted_module(record.module, family, source, trusted_modules)
    return recorded if issubclass(recorded, chosen) else chosen


def module_arguments(record: Record, cls: type) -> dict[str, Any]:
    """The init arguments of the module that ``record`` holds and ``cls`` takes (a subclass's own,
    ``class_weights``, among them), plain data only: the run's values, repeated by no one."""
    accepted = init_parameters(cls)
    return {k: v for k, v in record.arguments.items() if k in accepted and is_plain(v)}


def check_checkpoint_fits(
    checkpoint: Mapping[str, Any], num_classes: int | None, input_shape: Any, weights: Mapping[str, Tensor]
) -> None:
    """Refuse a checkpoint made for another class count, image shape or architecture."""
    saved = Record.read(checkpoint)
    if saved.num_classes is not None and num_classes is not None and saved.num_classes != num_classes:
        raise FitError(
            f"the checkpoint was trained for {saved.num_classes} classes but the data has {num_classes}: "
            "use the data it was trained on, or fine-tune it with a fresh head"
        )
    check_input_shape(saved.input_shape, input_shape, "the data")
    check_weights(weights, checkpoint["state_dict"])


def check_weights(expected: Mapping[str, Tensor], saved: Mapping[str, Any]) -> None:
    """Raise naming the first weight where the checkpoint and the network differ in name or shape."""
    for name, tensor in expected.items():
        if name not in saved:
            raise FitError(
                f"it has no weight {name} that this network has: it was trained with another architecture; "
                "give the network it was trained with (--model.model), or leave the network to the checkpoint"
            )
        shape = tuple(saved[name].shape) if isinstance(saved[name], Tensor) else ()
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
