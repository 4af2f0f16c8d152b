"""Reading one YAML mapping into typed values, with errors that name the file and the key."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, NoReturn, TypeVar

from memrl.checks import CheckError, check_int, check_number, show

__all__ = ["ConfigError", "Reader", "as_float", "as_int", "describe"]

T = TypeVar("T")


class ConfigError(ValueError):
    """A bad configuration value: ``"<source>: <key>: <what is wrong and what is accepted>"``.

    Attributes:
        source: the file (or ``--set``) the value came from.
        key: the dotted key, e.g. ``memory_kwargs.memory_slots`` or ``envs[1].steps``.
    """

    def __init__(self, source: str, key: str, problem: str) -> None:
        self.source, self.key, self.problem = source, key, problem
        where = f"{source}: {key}" if key else source
        super().__init__(f"{where}: {problem}")


class Reader:
    """Reads typed values out of one mapping, raising ConfigError with source and key."""

    def __init__(self, source: str, prefix: str, data: Any, accepted: Iterable[str]) -> None:
        self.source, self.prefix = source, prefix
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            self.fail("", f"expected a mapping of keys to values, got {describe(data)}")
        self.data = dict(data)
        accepted = list(accepted)
        for key in self.data:
            if key not in accepted:
                self.fail(str(key), f"unknown key; accepted keys: {', '.join(accepted)}")

    def key(self, key: str) -> str:
        return f"{self.prefix}.{key}" if self.prefix and key else (self.prefix or key)

    def fail(self, key: str, problem: str) -> NoReturn:
        raise ConfigError(self.source, self.key(key), problem)

    def has(self, key: str) -> bool:
        return key in self.data

    def string(self, key: str, default: Any = ..., choices: Sequence[str] | None = None) -> Any:
        value = self._get(key, default)
        if value is None and default is None:
            return None
        if not isinstance(value, str) or not value:
            self.fail(key, f"expected a non-empty string, got {describe(value)}")
        if choices is not None and value not in choices:
            self.fail(key, f"expected one of {', '.join(choices)}; got {value!r}")
        return value

    def integer(self, key: str, default: Any = ..., minimum: int | None = None) -> Any:
        value = self._get(key, default)
        if value is None and default is None:
            return None
        number = as_int(value)
        if number is None:
            self.fail(key, f"expected an integer, got {describe(value)}")
        return self.checked(key, check_int, number, minimum)

    def number(
        self,
        key: str,
        default: Any = ...,
        minimum: float | None = None,
        maximum: float | None = None,
        positive: bool = False,
    ) -> Any:
        value = self._get(key, default)
        if value is None and default is None:
            return None
        number = as_float(value)
        if number is None:
            self.fail(key, f"expected a number, got {describe(value)}")
        return self.checked(
            key, check_number, number, positive=positive, minimum=minimum, maximum=maximum
        )

    def checked(
        self, key: str, check: Callable[..., T], value: Any, *args: Any, **kwargs: Any
    ) -> T:
        """``check(key, value, ...)`` from :mod:`memrl.checks`, its failure as a ConfigError."""
        try:
            return check(key, value, *args, **kwargs)
        except CheckError as error:
            self.fail(key, f"expected {error.wanted}, got {error.got}")

    def boolean(self, key: str, default: Any = ...) -> bool:
        value = self._get(key, default)
        if not isinstance(value, bool):
            self.fail(key, f"expected true or false, got {describe(value)}")
        return value

    def mapping(self, key: str) -> dict[str, Any]:
        value = self._get(key, None)
        if value is None:
            return {}
        if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
            self.fail(key, f"expected a mapping with string keys, got {describe(value)}")
        return copy.deepcopy(dict(value))

    def _get(self, key: str, default: Any) -> Any:
        if key in self.data:
            return self.data[key]
        if default is ...:
            self.fail(key, "missing (required)")
        return default


def describe(value: Any) -> str:
    """A value for an error message: its short repr and its YAML-visible type."""
    return f"{show(value)} ({type(value).__name__})"


def as_float(value: Any) -> float | None:
    """A finite float from a YAML number or a numeric string (PyYAML reads ``1e-3`` as a string:
    YAML 1.1 wants a dot in the mantissa). Parsing, not evaluation."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def as_int(value: Any) -> int | None:
    """An int from an integer, an integral float (``1.0e5``) or such a numeric string."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    number = as_float(value)
    if number is None or not number.is_integer():
        return None
    return int(number)
