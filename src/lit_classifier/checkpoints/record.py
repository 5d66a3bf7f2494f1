"""What a checkpoint carries besides its weights: one ``Record``, written in one place and checked
when read.

A checkpoint of ``ClassifierModule`` stores, as plain data under Lightning's ``hyper_parameters``
key: the class count, class names and image shape the network was trained for; descriptions
(``class_path`` + ``init_args``) of the network, the optimizer, the scheduler and the data module;
the module's own class path (a subclass's, ``lit_classifier.examples.F1Classifier``); and the
module's other init arguments (``label_smoothing``, a subclass's own). The module keeps its
``Record`` up to date as it learns these facts and writes it in ``on_save_checkpoint``; every reader
(``load``, the command line's ``--ckpt_path``, ``predict_images``, ``lit-classifier-plot``) reads it
through ``Record.read``, which checks what it holds. Nothing is built from a description here: the
module class, network and data module only through ``lit_classifier.checkpoints.trust``, the
optimizer and scheduler never.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import lightning as L
from torch import nn

from lit_classifier.checkpoints.trust import trusted_data
from lit_classifier.data.augment import merged_options
from lit_classifier.errors import CheckpointError, short_repr
from lit_classifier.framework import CLASS_PATH_KEY
from lit_classifier.specs import Spec, callable_spec, class_path_of

#: The key of the module's class path under ``hyper_parameters``: Lightning's own (LightningCLI's
#: instantiator writes it there beside the init arguments), so the file reads as Lightning's do.
MODULE_KEY = CLASS_PATH_KEY
#: The record's entries under ``hyper_parameters``; the network is stored as ``model``, the
#: ``ClassifierModule`` argument that takes it.
ENTRIES = ("num_classes", "class_names", "input_shape", "model", "optimizer", "scheduler", "data", MODULE_KEY)
#: The module's init arguments that change how it evaluates, not what training does: a resumed
#: ``fit`` may give them anew (``tta``, test-time augmentation).
EVALUATION_ONLY = ("tta",)


@dataclass
class Record:
    """What a checkpoint of ``ClassifierModule`` carries besides its weights.

    Attributes:
        num_classes: the classes the head was sized for (``None`` until the data is known).
        class_names: one name per class.
        input_shape: (channels, height, width) of one image.
        network: how the network was built; ``init_args`` is ``None`` for one built in Python.
        optimizer: how the optimizer was built (a record only: never built from a file).
        scheduler: likewise, for the learning-rate schedule.
        data: the data module trained on: class path and init arguments.
        module: the class path of the module itself (``None`` in checkpoints written before it was
            recorded, which are ``ClassifierModule``'s).
        arguments: the module's other init arguments, as read from a file (passed back when the
            module is rebuilt); a module's own are its ``hparams``.
    """

    num_classes: int | None = None
    class_names: list[str] = field(default_factory=list)
    input_shape: tuple[int, int, int] | None = None
    network: Spec | None = None
    optimizer: Spec | None = None
    scheduler: Spec | None = None
    data: Spec | None = None
    module: str | None = None
    arguments: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def describing(
        cls, module: L.LightningModule, network: nn.Module, optimizer: Any, scheduler: Any
    ) -> Record:
        """The record of a new ``module``: its class, its network's class (the command line adds its
        arguments), its optimizer and scheduler (class and plain arguments)."""
        described = {"class_path": class_path_of(network), "init_args": None}
        return cls(
            network=described,
            optimizer=callable_spec(optimizer),
            scheduler=callable_spec(scheduler),
            module=class_path_of(module),
        )

    def as_hyper_parameters(self, init_arguments: Mapping[str, Any]) -> dict[str, Any]:
        """The record as a module stores it: its ``init_arguments`` (``hparams``, which hold the
        module's other arguments) under the record's entries."""
        stored = self.trained_for()
        stored.update(model=self.network, optimizer=self.optimizer, scheduler=self.scheduler)
        if self.data is not None:
            stored["data"] = self.data
        if self.module is not None:
            stored[MODULE_KEY] = self.module
        return {**{k: v for k, v in init_arguments.items() if k not in ENTRIES}, **stored}

    @classmethod
    def read(cls, checkpoint: Mapping[str, Any], source: str = "the checkpoint") -> Record:
        """The record of a loaded checkpoint (an empty one when it has none); a ``CheckpointError``
        naming ``source`` and the entry when its class count, class names or image shape are not
        what they must be, rather than a confusing failure later."""
        stored = checkpoint.get("hyper_parameters")
        saved = dict(stored) if isinstance(stored, Mapping) else {}
        count, names, shape = (saved.get(key) for key in ENTRIES[:3])
        if count is not None and not _positive_int(count):
            raise CheckpointError(f"{source}: its num_classes is {count!r}, not a whole number of classes")
        if names is not None and not (
            isinstance(names, list | tuple) and all(isinstance(n, str) for n in names)
        ):
            raise CheckpointError(f"{source}: its class_names is {short_repr(names)}, not a list of names")
        if names is not None and count is not None and len(names) != count:
            raise CheckpointError(f"{source}: it has {len(names)} class_names for num_classes {count}")
        if shape is not None and not (
            isinstance(shape, list | tuple) and len(shape) == 3 and all(_positive_int(side) for side in shape)
        ):
            raise CheckpointError(
                f"{source}: its input_shape is {short_repr(shape)}, not three whole numbers (channels, "
                "height, width)"
            )
        data = _current_data_options(saved.get("data"))
        _check_image_size(data, shape, source)
        module = saved.get(MODULE_KEY)
        if module is not None and not isinstance(module, str):
            raise CheckpointError(f"{source}: its {MODULE_KEY} is {short_repr(module)}, not a class path")
        return cls(
            num_classes=count,
            class_names=list(names or []),
            input_shape=None if shape is None else (shape[0], shape[1], shape[2]),
            network=saved.get("model"),
            optimizer=saved.get("optimizer"),
            scheduler=saved.get("scheduler"),
            data=data,
            module=module,
            arguments={k: v for k, v in saved.items() if k not in ENTRIES},
        )

    def trained_for(self) -> dict[str, Any]:
        """The ``ClassifierModule`` arguments of what the network was trained for (``None``: unknown)."""
        names = self.class_names or None
        return {"num_classes": self.num_classes, "class_names": names, "input_shape": self.input_shape}

    def data_spec(
        self, source: str, trusted_modules: Sequence[str] = (), given: Collection[str] = ()
    ) -> Spec | None:
        """The checked description of the data module trained on, if there is one (``given``: the
        options the command gives it, see ``trust.local_data``)."""
        return None if self.data is None else trusted_data(self.data, source, trusted_modules, given)

    def optimization(self) -> dict[str, Any]:
        """What a resumed ``fit`` continues with and so may not change: the optimizer, the scheduler
        and the module's other init arguments (the loss's among them) but those of evaluation."""
        training = {k: v for k, v in self.arguments.items() if k not in EVALUATION_ONLY}
        return {"optimizer": self.optimizer, "scheduler": self.scheduler, **training}


def describe_data(datamodule: L.LightningDataModule) -> Spec:
    """The record of a data module: its class path and its init arguments (``hparams``)."""
    return {"class_path": class_path_of(datamodule), "init_args": dict(datamodule.hparams)}


def _current_data_options(spec: Any) -> Any:
    """A data module's description, its options as the class takes them now (``augment``)."""
    if not isinstance(spec, dict) or not isinstance(spec.get("init_args"), dict):
        return spec
    return {**spec, "init_args": merged_options(spec["init_args"])}


def _check_image_size(data: Any, shape: Any, source: str) -> None:
    """The data module's ``image_size`` (the side of the square it gives the network) is the side of
    the ``input_shape`` the network was trained for; a file that says otherwise would have every
    image prepared at a size the network never saw (a 16-pixel network serving 3000-pixel images,
    seconds a request)."""
    init_args = data.get("init_args") if isinstance(data, dict) else None
    size = init_args.get("image_size") if isinstance(init_args, dict) else None
    if shape is not None and _positive_int(size) and (size, size) != (shape[1], shape[2]):
        raise CheckpointError(
            f"{source}: its data module's image_size is {size} but its input_shape is {tuple(shape)}: the "
            "network was trained on images of one size, so the file was edited"
        )


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0
