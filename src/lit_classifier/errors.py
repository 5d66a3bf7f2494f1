"""``InputError``: input the user must fix, as opposed to a bug in the package or in their code.

A bad file, config value or checkpoint is reported by the commands as one ``error:`` line naming
the thing at fault, with exit status 2; a traceback there would only bury that line. Each error
of this kind also derives from the built-in type it refines (``ValueError``,
``FileNotFoundError``), so Python callers can catch it as before.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class InputError(Exception):
    """A file, value or checkpoint that cannot be used; the message says which and why."""


@contextmanager
def command_errors() -> Iterator[None]:
    """The one error boundary of each command: what the user must fix becomes one ``error:`` line.

    - an ``InputError`` (a bad file, value or checkpoint): its message, exit status 2;
    - a ``ValueError`` raised while the configured classes are built (a class refusing a value,
      such as ``lr must be positive``): ``error: invalid configuration: ...``, exit status 2;
    - a ``NonFiniteLossError``: its message (which names the step and the last good checkpoint),
      exit status 1.

    Anything else is a bug and keeps its traceback.
    """
    from lit_classifier.callbacks.nonfinite import NonFiniteLossError

    try:
        yield
    except InputError as error:
        _exit(f"error: {error}", 2, error)
    except NonFiniteLossError as error:
        _exit(f"error: {error}", 1, error)
    except ValueError as error:
        reason = own_error(error)
        if reason is None:
            raise
        prefix = "" if isinstance(reason, InputError) else "invalid configuration: "
        _exit(f"error: {prefix}{reason}", 2, error)


#: How jsonargparse's reports start when a class it builds refuses a value.
_WRAPPERS = (
    "Does not validate against any of the Union subtypes",
    "Problem with given class_path",
    "Parser key",
)


def own_error(error: BaseException) -> BaseException | None:
    """The error a class raised while jsonargparse built it, out of jsonargparse's report around it
    (which lists every type it tried); ``None`` when ``error`` is no such report."""
    if not str(error).startswith(_WRAPPERS):
        return None
    seen: BaseException | None = error
    while seen is not None and str(seen).startswith(_WRAPPERS):
        seen = seen.__cause__ or seen.__context__
    return seen


def _exit(message: str, code: int, error: BaseException) -> None:
    print(message, file=sys.stderr)
    raise SystemExit(code) from error


def short_repr(value: Any) -> str:
    """``repr(value)``, cut to a length that fits in an error line."""
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:57]}..."
