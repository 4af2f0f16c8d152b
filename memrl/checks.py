"""Argument checks: the one way memrl validates a user-given value.

Each check returns the value, converted (``operator.index`` for integers, ``float`` for
numbers), or raises :class:`CheckError` (a ``ValueError``) with a message that names the
argument, what is accepted and what was given::

    slots = check_int("memory_slots", memory_slots, minimum=1)
    tau = check_number("gumbel_tau", gumbel_tau, positive=True)
    mode = check_choice("read_addressing", read_addressing, ("soft", "gumbel"))

This module is a leaf: it imports nothing of memrl, so every layer (memory, envs, sb3,
recall, config, run) may use it.
"""

from __future__ import annotations

import math
import numbers
import operator
from collections.abc import Iterable
from typing import Any, TypeVar

__all__ = [
    "CheckError",
    "ModelFileError",
    "check_choice",
    "check_int",
    "check_int_range",
    "check_number",
    "show",
]

T = TypeVar("T")


class CheckError(ValueError):
    """A value that failed a check: ``"<name> must be <wanted>, got <got>"``.

    The parts are kept so that a caller with its own phrasing (the config loader says
    ``"<file>: <key>: expected <wanted>, got <got>"``) reuses the check, not its wording.
    """

    def __init__(self, name: str, wanted: str, got: str) -> None:
        self.name, self.wanted, self.got = name, wanted, got
        super().__init__(f"{name} must be {wanted}, got {got}")


class ModelFileError(ValueError):
    """A file that does not load as a model of its run (not a model file at all, truncated,
    another algorithm's or another configuration's model)."""


def show(value: Any) -> str:
    """``repr(value)`` cut to 60 characters, for error messages."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _integer_wanted(minimum: int | None, maximum: int | None) -> str:
    if minimum is not None and maximum is not None:
        return f"an integer in [{minimum}, {maximum}]"
    if minimum is not None:
        return f"an integer >= {minimum}"
    if maximum is not None:
        return f"an integer <= {maximum}"
    return "an integer"


def check_int(name: str, value: Any, minimum: int | None = None, maximum: int | None = None) -> int:
    """``value`` as an ``int`` (Python or numpy integer; not a bool, not a float).

    Raises:
        ValueError: ``"<name> must be an integer >= <minimum>, got <value>"``.
    """
    wanted = _integer_wanted(minimum, maximum)
    if isinstance(value, bool):
        raise CheckError(name, wanted, show(value))
    try:
        number = operator.index(value)
    except TypeError:
        raise CheckError(name, wanted, show(value)) from None
    if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
        raise CheckError(name, wanted, str(number))
    return number


def check_int_range(
    low_name: str, low: Any, high_name: str, high: Any, minimum: int
) -> tuple[int, int]:
    """An inclusive integer range ``minimum <= low <= high``, as ``(low, high)``."""
    low = check_int(low_name, low, minimum)
    high = check_int(high_name, high, minimum)
    if low > high:
        raise CheckError(low_name, f"<= {high_name}", f"{low_name}={low} > {high_name}={high}")
    return low, high


def _number_bounds(positive: bool, minimum: float | None, maximum: float | None) -> str:
    """`` > 0``, `` >= 1``, `` in [0, 1]``, `` in (0, 1]`` ... or nothing."""
    if maximum is None:
        parts = ([" > 0"] if positive else []) + (
            [f" >= {minimum:g}"] if minimum is not None else []
        )
        return " and".join(parts)
    if minimum is not None and not (positive and minimum <= 0):
        return f" in [{minimum:g}, {maximum:g}]"
    return f" in (0, {maximum:g}]" if positive else f" <= {maximum:g}"


def check_number(
    name: str,
    value: Any,
    *,
    positive: bool = False,
    minimum: float | None = None,
    maximum: float | None = None,
) -> float:
    """``value`` as a finite ``float`` (any real number but a bool), optionally > 0 or in
    ``[minimum, maximum]``.

    Raises:
        ValueError: ``"<name> must be a finite number > 0, got <value>"``.
    """
    wanted = "a finite number" + _number_bounds(positive, minimum, maximum)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise CheckError(name, wanted, show(value))
    number = float(value)
    if (
        not math.isfinite(number)
        or (positive and not number > 0)
        or (minimum is not None and number < minimum)
        or (maximum is not None and number > maximum)
    ):
        raise CheckError(name, wanted, show(value))
    return number


def check_choice(name: str, value: T, choices: Iterable[T]) -> T:
    """``value`` if it is one of ``choices``.

    Raises:
        ValueError: ``"<name> must be one of ('a', 'b'), got <value>"``.
    """
    options = tuple(choices)
    try:
        accepted = value in options
    except TypeError:  # unhashable or incomparable: not a choice
        accepted = False
    if not accepted:
        raise CheckError(name, f"one of {options!r}", show(value))
    return value
