"""Checks of the data modules' options, made as a module is built, before any data is read.

A value out of range ends the command with one ``error:`` line that names the option, its allowed
range and the value given (``lit_classifier.errors``), not with a traceback from a split or a loader
minutes later.
"""

from __future__ import annotations

from lit_classifier.errors import ConfigError


def check_fraction(name: str, value: float, *, zero_allowed: bool = False) -> None:
    """``value`` is a share of the images held out: in (0, 1), or [0, 1) where none may be held out."""
    inside = 0 <= value < 1 if zero_allowed else 0 < value < 1
    if not inside:
        interval = "[0, 1)" if zero_allowed else "(0, 1)"
        raise ConfigError(
            f"{name} must be in {interval}, the share of the images it holds out (0.1 is a tenth), "
            f"got {value}"
        )


def check_at_least(name: str, value: int, minimum: int) -> None:
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
