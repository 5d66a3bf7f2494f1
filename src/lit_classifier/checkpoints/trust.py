"""What a file may ask the package to build: named classes on an allowlist, with plain-data arguments.

A checkpoint that loads with ``torch.load(weights_only=True)`` holds only tensors and plain data, but
plain data can still *name* a callable (``{"class_path": "some.module.function", "init_args":
{...}}``), and a loader that builds what the file names runs whatever the file's author chose. So
everything read from a file (a checkpoint's record, a run folder's ``config.yaml``) goes through
here before anything is imported or called:

- a network may be rebuilt only from an ``nn.Module`` subclass defined in ``lit_classifier.models``,
  in ``timm``, or in a module the user trusts by name (``trusted_modules``), or from one of
  torchvision's registered classification builders (``torchvision.models.resnet18``);
- a data module only from a ``LightningDataModule`` subclass defined in ``lit_classifier`` or in a
  trusted module;
- the module itself (the LightningModule a checkpoint was written by) only from a
  ``ClassifierModule`` subclass defined in ``lit_classifier`` (``lit_classifier.examples``) or in a
  trusted module;
- their arguments must be plain data (numbers, strings, booleans, ``None``, lists and dicts of
  them) with no ``class_path`` anywhere inside, so nothing nested gets built either;
- arguments by which a user trusts data (``USER_ONLY``) are dropped: only the user may give them;
- nothing is fetched because a file says so: a network's weight sources (``pretrained``,
  ``weights``, timm's ``pretrained_cfg*`` and ``checkpoint_path``) are replaced by none, since the
  checkpoint's own weights are loaded over the network anyway; a timm model named by a file must
  be one of timm's own (timm fetches the config of a hub name, ``hf-hub:org/name``, even without
  weights); a data module never downloads, keeps its cache where the command puts it, and reads
  only from this machine: a location that is a URL or a hub name is refused unless the command
  gives that option itself.

The prefix is checked before anything is imported: importing a module runs its top-level code.
Optimizers and schedulers are never built from a file at all (``lit_classifier.checkpoints.record``).
"""

from __future__ import annotations

import inspect
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

import lightning as L
import torch
from fsspec.registry import known_implementations
from fsspec.utils import get_protocol
from torch import Tensor, nn
from torch.nn.parameter import is_lazy

from lit_classifier.errors import CheckpointError
from lit_classifier.framework import datasets_builders
from lit_classifier.specs import Spec, is_plain, resolve, strings_in

#: Where the networks that any checkpoint may name live (``nn.Module`` subclasses only).
NETWORK_PACKAGES = ("lit_classifier.models", "timm")
#: Where the data modules that any checkpoint may name live.
DATA_PACKAGES = ("lit_classifier",)
#: Where the module classes (``ClassifierModule`` subclasses) that any checkpoint may name live.
MODULE_PACKAGES = ("lit_classifier",)


#: Arguments that lift a safety check, such as reading chunks stored with pickle: a file never sets
#: them, whatever it records (the run that wrote it may have been given them by its user).
USER_ONLY = ("trusted_data",)
#: A network's arguments that fetch weights, and their value in a network built from a file.
NO_WEIGHT_DOWNLOADS = {"pretrained": False, "weights": None}
#: Keys of a network's ``kwargs`` (timm's ``create_model``) that say where weights come from.
WEIGHT_SOURCES = ("pretrained", "weights", "pretrained_cfg", "pretrained_cfg_overlay", "checkpoint_path")
#: ``HuggingFaceDataModule``'s argument that names a set: a folder here, a builder, or a hub name.
HUB_PATH = "path"

#: How much memory beyond its weights the network a checkpoint describes may take when built: the
#: module then resizes a head built for other classes (a 1000-class ImageNet head for a 10-class
#: checkpoint), so the network may exceed the weights by such a head, up to twice them plus 256 MiB
#: (the 21k-class head of a ViT-B is 64 MiB). Any more, and a 1 MB file could fill gigabytes.
SIZE_FACTOR, SIZE_ALLOWANCE = 2, 256 * 2**20


def checked_spec(spec: Any, what: str, source: str) -> Spec:
    """``spec`` as ``{"class_path": str, "init_args": dict}``, or an error naming ``source``."""
    if isinstance(spec, str):
        spec = {"class_path": spec}
    if not isinstance(spec, dict) or not isinstance(spec.get("class_path"), str):
        raise CheckpointError(f"{source}: the {what} is not described as class_path + init_args")
    init_args = spec.get("init_args") or {}
    extra = sorted(set(spec) - {"class_path", "init_args"})
    if extra or not isinstance(init_args, dict) or not is_plain(init_args):
        raise CheckpointError(
            f"{source}: the {what} {spec['class_path']} has arguments that are not plain data (numbers, "
            "strings, lists, dicts; no class_path inside), so they are not built from a file"
        )
    kept = {name: value for name, value in init_args.items() if name not in USER_ONLY}
    return {"class_path": spec["class_path"], "init_args": kept}


def trusted_network(
    spec: Any, source: str, trusted_modules: Sequence[str] = (), weights: Mapping[str, Any] | None = None
) -> Spec:
    """The network ``spec`` read from ``source``, checked against the allowlist (nothing is called),
    with no weights to fetch, and sized against the file's ``weights`` (``check_network_size``)."""
    if spec is None:
        raise CheckpointError(
            f"{source} does not describe its network: give it with --model.model (model=...)"
        )
    if isinstance(spec, dict) and spec.get("init_args", {}) is None:
        raise CheckpointError(
            f"{source} does not say how its network {spec.get('class_path')} was built (it was built in "
            "Python): give it yourself, --model.model on the command line or model=... in Python"
        )
    spec = without_weight_downloads(checked_spec(spec, "network", source))
    class_path = spec["class_path"]
    if is_allowed_class(class_path, nn.Module, (*NETWORK_PACKAGES, *trusted_modules), "network", source):
        refuse_hub_models(spec, source)
    elif not (_within(class_path, ("torchvision.models",)) and _is_torchvision_builder(class_path)):
        raise CheckpointError(
            f"{source} names the network {class_path}, which is not on the list of networks a file may "
            f"build (nn.Module classes of {', '.join(NETWORK_PACKAGES)}, torchvision's model builders). "
            f"If you trust it, pass --trusted_modules [{class_path.rsplit('.', 1)[0]}] (Python: "
            "trusted_modules=[...]), or give the network yourself with --model.model (Python: model=...)"
        )
    if weights is not None:
        check_network_size(spec, weights, source)
    return spec


def check_network_size(spec: Spec, weights: Mapping[str, Any], source: str) -> None:
    """Refuse the network of ``spec`` when built as described it would take far more memory than
    the ``weights`` it is for (``SIZE_FACTOR``, ``SIZE_ALLOWANCE``), naming its largest tensor that
    differs from the file's: ``SmallCNN(hidden=1000000)`` in a 1 MB file would take 4 GB before the
    shapes were compared. It is built on the meta device (shapes without memory) to be sized; lazy
    layers, shaped by the first batch, are left out. A network that cannot be built there (it reads
    the values of tensors while built, as torchvision's RegNets do) is refused as one that cannot be
    sized: only the user may choose to build it."""
    try:
        with torch.device("meta"):
            network = build(spec)
    # The class refuses the file's arguments, or reads values of tensors while built (meta ones have none).
    except (TypeError, ValueError, RuntimeError, ImportError) as error:
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0].rstrip(".!")
        raise CheckpointError(
            f"{source}: its network {spec['class_path']} cannot be built as the file describes it without "
            f"taking memory (on the meta device, to be sized first): {reason}. Give it yourself with "
            "--model.model (Python: model=...)"
        ) from None
    tensors = [(n, t) for n, t in (*network.named_parameters(), *network.named_buffers()) if not is_lazy(t)]
    described = sum(tensor.nbytes for _, tensor in tensors)
    stored = sum(tensor.nbytes for tensor in weights.values() if isinstance(tensor, Tensor))
    if described <= SIZE_FACTOR * stored + SIZE_ALLOWANCE:
        return
    # The network's weights are the module's "model" (the ClassifierModule argument that takes it).
    differing = [(n, t) for n, t in tensors if not _same_shape(weights.get(f"model.{n}"), t)]
    name, largest = max(differing or tensors, key=lambda named: named[1].nbytes)
    saved = weights.get(f"model.{name}")
    theirs = f"the file's is {tuple(saved.shape)}" if isinstance(saved, Tensor) else "the file has none"
    raise CheckpointError(
        f"{source}: its network {spec['class_path']}, built as described, would take "
        f"{described / 2**20:,.0f} MiB for {stored / 2**20:,.1f} MiB of weights (its model.{name} "
        f"would be shaped {tuple(largest.shape)}; {theirs}): the description does not fit the weights. "
        "Give the network yourself with --model.model (Python: model=...)"
    )


def _same_shape(saved: Any, tensor: Tensor) -> bool:
    return isinstance(saved, Tensor) and saved.shape == tensor.shape


def trusted_data(
    spec: Any, source: str, trusted_modules: Sequence[str] = (), given: Collection[str] = ()
) -> Spec:
    """The data module ``spec`` read from ``source``, checked against the allowlist (nothing is called)
    and reading from this machine only (``local_data``; ``given``: the options the command gives)."""
    spec = local_data(checked_spec(spec, "data module", source), source, given)
    class_path = spec["class_path"]
    packages = (*DATA_PACKAGES, *trusted_modules)
    if is_allowed_class(class_path, L.LightningDataModule, packages, "data module", source):
        return spec
    raise CheckpointError(
        f"{source} names the data module {class_path}, which is not a data module of lit_classifier: "
        f"if you trust it, pass --trusted_modules [{class_path.rsplit('.', 1)[0]}], or choose the data "
        "yourself with --data"
    )


def trusted_module(
    class_path: str, family: type[L.LightningModule], source: str, trusted_modules: Sequence[str] = ()
) -> type[L.LightningModule]:
    """The module class ``class_path`` read from ``source``, checked against the allowlist (the
    prefix before anything is imported) and to be of ``family`` (``ClassifierModule``, which the
    caller names: this module lies below it); it is imported, not called."""
    packages = (*MODULE_PACKAGES, *trusted_modules)
    if is_allowed_class(class_path, family, packages, "module class", source):
        found: type[L.LightningModule] = resolve(class_path)
        return found
    raise CheckpointError(
        f"{source} names the module class {class_path}, which is not a {family.__name__} of "
        f"{', '.join(MODULE_PACKAGES)}: if you trust it, pass --trusted_modules "
        f"[{class_path.rsplit('.', 1)[0]}] (Python: trusted_modules=[...]), or name the class yourself "
        f"with --model {class_path} (Python: its load_from_checkpoint)"
    )


def without_weight_downloads(spec: Spec) -> Spec:
    """``spec`` (a network read from a file) with its weight sources replaced by none."""
    init_args = {name: NO_WEIGHT_DOWNLOADS.get(name, value) for name, value in spec["init_args"].items()}
    if isinstance(init_args.get("kwargs"), dict):
        init_args["kwargs"] = {k: v for k, v in init_args["kwargs"].items() if k not in WEIGHT_SOURCES}
    return {**spec, "init_args": init_args}


def refuse_hub_models(spec: Spec, source: str) -> None:
    """Refuse a ``TimmModel`` (read from ``source``) whose ``name`` is not one of timm's own models:
    ``timm.create_model`` reads a name such as ``hf-hub:org/name`` from the Hugging Face Hub (its
    config, even with ``pretrained=False``), and a file does not choose what is fetched."""
    from lit_classifier.models.pretrained import TimmModel

    name = spec["init_args"].get("name")
    if resolve(spec["class_path"]) is not TimmModel or not isinstance(name, str):
        return
    try:
        import timm
    except ImportError:  # without timm nothing is fetched: the network cannot be built at all
        return
    if not timm.is_model(name):
        raise CheckpointError(
            f"{source}: its network {spec['class_path']} has name={name!r}, which is not one of timm's own "
            "models: timm would fetch it from the Hugging Face Hub, and a file does not choose what is "
            "fetched. Give the network yourself with --model.model (Python: model=...)"
        )


def local_data(spec: Spec, source: str, given: Collection[str] = ()) -> Spec:
    """``spec`` (a data module read from ``source``) that downloads nothing, with its cache where
    the command puts it; an argument naming a location off this machine (any string in it that is a
    URL, whatever the argument is called; a hub name as a Hugging Face ``path``) is refused, unless
    it is one of the options ``given`` by the command, which replace the file's."""
    init_args = {name: value for name, value in spec["init_args"].items() if name != "cache_dir"}
    if "download" in init_args:
        init_args["download"] = False
    for name, value in init_args.items():
        if name in given:  # the command's value replaces the file's
            continue
        remote = next((text for text in strings_in(value) if _off_this_machine(text, name)), None)
        if remote is not None:
            raise CheckpointError(
                f"{source}: its data module {spec['class_path']} reads {name}={remote!r}, which is not on "
                "this machine, and a file does not choose where data is fetched from: give "
                f"--data.{name} yourself, or choose the data with --data"
            )
    return {**spec, "init_args": init_args}


def _off_this_machine(location: str, name: str) -> bool:
    """Whether reading ``location`` fetches it: a URL of a file system fsspec knows (``s3://``,
    ``https://``, ``hf://``, chained ``simplecache::s3://``; ``std::vector`` is no URL), or a Hugging
    Face hub name (a ``path`` that is neither a folder or file here nor one of ``datasets``' own
    builders such as ``imagefolder``)."""
    protocol = get_protocol(location).lower()  # "file" for a path, also one holding "::" or "C:"
    if protocol not in ("file", "local") and protocol in known_implementations:
        return True
    if name != HUB_PATH or Path(location).expanduser().exists():
        return False
    builders = datasets_builders()  # without datasets nothing is fetched: the module cannot load at all
    return bool(builders) and location not in builders


def is_allowed_class(class_path: str, base: type, packages: Sequence[str], what: str, source: str) -> bool:
    """Whether ``class_path`` lies in ``packages`` (checked before importing anything) and names a
    subclass of ``base`` defined there (not a function, nor a class imported from elsewhere)."""
    if not _within(class_path, packages):
        return False
    target = _resolve_named(class_path, what, source)
    return inspect.isclass(target) and issubclass(target, base) and _within(target.__module__, packages)


def build(spec: Spec) -> Any:
    """Call the class (or builder) of a spec that ``trusted_network`` / ``trusted_data`` accepted."""
    return resolve(spec["class_path"])(**spec["init_args"])


def _within(path: str, packages: Sequence[str]) -> bool:
    return any(path == package or path.startswith(f"{package}.") for package in packages)


def _resolve_named(class_path: str, what: str, source: str) -> Any:
    try:
        return resolve(class_path)
    except ImportError:
        raise CheckpointError(f"{source} names the {what} {class_path}, which cannot be imported") from None


def _is_torchvision_builder(class_path: str) -> bool:
    import torchvision

    try:
        target = resolve(class_path)
    except ImportError:
        return False
    builders = torchvision.models.list_models(module=torchvision.models)
    return any(target is torchvision.models.get_model_builder(name) for name in builders)
