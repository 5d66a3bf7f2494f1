"""What the user must fix, by kind, and the one error boundary of every command.

A bad file, config value or checkpoint is reported by the commands as one ``error:`` line naming
the thing at fault, with exit status 2; a traceback there would only bury that line. Each kind also
derives from the built-in type it refines (``ValueError``, ``OSError``), so Python callers can catch
it as such. The message, not the class, says what exactly is wrong: the classes are few, one per
kind of thing to fix.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Any


class InputError(Exception):
    """A file, value or checkpoint that cannot be used; the message says which and why."""

    def __init__(self, *args: object) -> None:
        super().__init__(*(worker_message(type(self), arg) for arg in args))


def worker_message(kind: type[BaseException], message: object) -> object:
    """The message a DataLoader worker's error of class ``kind`` had there, out of ``message``.

    Such an error reaches the main process as a new one of the same class whose message is the
    worker's whole traceback (torch's ``ExceptionWrapper.reraise``: "Caught DataError in DataLoader
    worker process 0. Original Traceback ..."), the frames of torch's loader loop and of the image
    decoder above the one line that names the file; that traceback ends with the class's qualified
    name and the worker's message. Any other ``message`` is returned as it is.
    """
    if not isinstance(message, str) or not message.startswith(f"Caught {kind.__name__} in DataLoader worker"):
        return message
    _, found, own = message.rpartition(f"\n{kind.__module__}.{kind.__qualname__}: ")
    return own.rstrip("\n") if found else message


class ConfigError(InputError, ValueError):
    """Options that cannot work: a value out of range, options that make no sense together or for
    this command, a config or sweep file that holds no options, a split too small for the batch."""


class DataError(InputError, ValueError):
    """Data that cannot be read or used: a folder without classes, an unreadable image, a data file
    that is malformed or asks to run code, a label out of range."""


class UnavailableError(InputError, OSError):
    """Files, data or weights that are not on this machine and could not be fetched."""


class CheckpointError(InputError, ValueError):
    """A checkpoint or run folder that cannot be used: missing, unreadable, unsafe, or naming
    something to build that is not on the allowlist."""


class FitError(InputError, ValueError):
    """A network, its data and its checkpoint that do not fit each other: the class count, the
    image shape, or the shapes of the weights."""


class OutputError(InputError, OSError):
    """An output that cannot be written: no space left, or a folder that is read-only or forbidden."""


class NonFiniteLossError(RuntimeError):
    """The training loss, the weights or the validation loss became NaN or infinite (raised by
    ``callbacks.nonfinite.NonFiniteGuard``); no input error: the run itself diverged."""


@contextmanager
def command_errors() -> Iterator[None]:
    """The one error boundary of each command: what the user must fix becomes one ``error:`` line.

    - an ``InputError`` (a bad file, value or checkpoint): its message, exit status 2;
    - a ``ValueError`` that a class raised while jsonargparse built it (a class refusing a value,
      such as ``Invalid learning rate: -1.0``): ``error: invalid configuration: ...``, exit status 2;
    - a ``NonFiniteLossError``: its message (which names the step and the last good checkpoint),
      exit status 1.

    Anything else is a bug and keeps its traceback.
    """
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


def own_error(error: BaseException) -> BaseException | None:
    """The error a class raised while jsonargparse built it, out of the reports jsonargparse raises
    around it (which list every type it tried); ``None`` when ``error`` is no such report.

    A report is told by where it was raised (inside jsonargparse), not by its words, which change
    between releases; the class's own error is the first in the chain raised anywhere else.
    """
    if not _raised_in(error.__traceback__, "jsonargparse"):
        return None
    seen: BaseException | None = error
    while seen is not None and _raised_in(seen.__traceback__, "jsonargparse"):
        seen = seen.__cause__ or seen.__context__
    return seen


def _raised_in(traceback: TracebackType | None, package: str) -> bool:
    """Whether the innermost frame of ``traceback`` (where the exception was raised) is ``package``'s."""
    if traceback is None:
        return False
    while traceback.tb_next is not None:
        traceback = traceback.tb_next
    module = str(traceback.tb_frame.f_globals.get("__name__", ""))
    return module == package or module.startswith(f"{package}.")


def short_repr(value: Any) -> str:
    """``repr(value)``, cut to a length that fits in an error line."""
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:57]}..."


def _exit(message: str, code: int, error: BaseException) -> None:
    print(message, file=sys.stderr)
    raise SystemExit(code) from error
