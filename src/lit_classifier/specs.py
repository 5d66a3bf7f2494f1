"""Class specs: ``{"class_path": ..., "init_args": {...}}``, the plain-data description of an object.

A config file, the command line and a checkpoint's record all describe the objects of a run this way
(LightningCLI's form). This module turns a class path into its class (``resolve``) and back
(``class_path_of``), says which arguments a class takes and their defaults as jsonargparse sees them
(its own ``__init__``'s, and its bases' wherever ``**kwargs`` is passed on to ``super().__init__``),
and trims a spec to the arguments that differ from them (``minimal_spec``). What may be *built* from
a spec read from a file is decided in ``lit_classifier.checkpoints.trust``.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

from jsonargparse import Namespace

Spec = dict[str, Any]


def resolve(class_path: str) -> Any:
    """Import the longest importable module prefix of ``class_path`` and walk the rest as attributes."""
    parts = class_path.split(".")
    for split in range(len(parts) - 1, 0, -1):
        try:
            target: Any = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        try:
            for name in parts[split:]:
                target = getattr(target, name)
        except AttributeError:
            break
        return target
    raise ImportError(f"cannot import {class_path}")


def class_path_of(obj: Any) -> str:
    """``package.module.Name`` of an object's class (of the object itself if it is a class)."""
    cls = obj if inspect.isclass(obj) else type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


def is_plain(value: Any) -> bool:
    """Whether ``value`` is plain data with no ``class_path`` anywhere inside."""
    if value is None or isinstance(value, bool | int | float | str):
        return True
    if isinstance(value, list | tuple):
        return all(is_plain(item) for item in value)
    if isinstance(value, dict):
        return all(isinstance(key, str) and key != "class_path" and is_plain(v) for key, v in value.items())
    return False


def strings_in(value: Any) -> Iterator[str]:
    """Every string in plain-data ``value``: itself, or those in its lists, tuples and dict values."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, list | tuple | dict):
        for item in value.values() if isinstance(value, dict) else value:
            yield from strings_in(item)


def factory_target(factory: Callable[..., Any]) -> Callable[..., Any]:
    """The class behind a factory: a class itself, ``partial(cls, ...)``, or jsonargparse's partial."""
    target: Callable[..., Any] = factory
    while isinstance(target, partial):
        classes = [arg for arg in target.args if inspect.isclass(arg)]
        target = classes[0] if not inspect.isclass(target.func) and classes else target.func
    return target


def callable_spec(factory: Callable[..., Any] | None) -> Spec | None:
    """How ``factory`` builds its object, as plain data: ``{"class_path", "init_args"}``.

    For the record in a checkpoint and ``config.yaml`` only: nothing is ever built from it.
    ``init_args`` is ``None`` when the arguments are not plain data.
    """
    if factory is None:
        return None
    given = factory.keywords if isinstance(factory, partial) else {}
    return {
        "class_path": class_path_of(factory_target(factory)),
        "init_args": given if is_plain(given) else None,
    }


def init_parameters(target: Any) -> dict[str, inspect.Parameter]:
    """The named parameters of a class (through ``**kwargs`` into its bases) or of a function."""
    if not inspect.isclass(target):
        return _named(inspect.signature(target).parameters.values())
    found: dict[str, inspect.Parameter] = {}
    for klass in target.__mro__:
        if "__init__" not in vars(klass) or klass is object:
            continue
        parameters = list(inspect.signature(vars(klass)["__init__"]).parameters.values())[1:]  # no self
        for name, parameter in _named(parameters).items():
            found.setdefault(name, parameter)
        if not any(p.kind is p.VAR_KEYWORD for p in parameters):
            break
    return found


def init_defaults(target: Any) -> dict[str, Any]:
    """The default value of each parameter that has one (``init_parameters``)."""
    return {name: p.default for name, p in init_parameters(target).items() if p.default is not p.empty}


def _named(parameters: Any) -> dict[str, inspect.Parameter]:
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return {p.name: p for p in parameters if p.kind in kinds}


def as_data(value: Any) -> Any:
    """``value`` as plain data, to compare a parsed value with a default: a ``Namespace`` (a nested
    group of options) and a dataclass (its default) as dicts, tuples as lists."""
    if isinstance(value, Namespace):
        value = value.as_dict()
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    if isinstance(value, dict):
        return {key: as_data(item) for key, item in value.items()}
    return [as_data(item) for item in value] if isinstance(value, list | tuple) else value


def is_class_spec(value: Any) -> bool:
    """Whether a parsed value is a class spec (a ``Namespace`` with a ``class_path``)."""
    return isinstance(value, Namespace) and isinstance(value.get("class_path"), str)


def minimal_spec(spec: Namespace) -> Namespace:
    """``spec`` without the ``init_args`` that equal the class's own defaults (nested specs too)."""
    try:
        parameters = init_defaults(resolve(spec.class_path))
    except (ImportError, AttributeError, TypeError, ValueError):
        return spec
    kept = Namespace()
    for name, value in vars(spec.get("init_args") or Namespace()).items():  # a group is one value
        if is_class_spec(value):
            kept[name] = minimal_spec(value)
        elif name not in parameters or as_data(parameters[name]) != as_data(value):
            kept[name] = value
    minimal = Namespace(class_path=spec.class_path)
    if list(kept.keys()):
        minimal["init_args"] = kept
    return minimal
