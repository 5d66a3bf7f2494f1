"""The arguments a class accepts, as jsonargparse sees them: its own ``__init__``'s, and its bases'
wherever an ``__init__`` passes ``**kwargs`` on to ``super().__init__``."""

from __future__ import annotations

import inspect
from typing import Any


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
