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


class InputError(Exception):
    """A file, value or checkpoint that cannot be used; the message says which and why."""


@contextmanager
def exit_on_input_error() -> Iterator[None]:
    """For commands: an ``InputError`` inside becomes one ``error:`` line on stderr and exit status 2."""
    try:
        yield
    except InputError as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from error
