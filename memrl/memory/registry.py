"""Name -> core class registry, so presets and policies can say ``memory: dnc``.

Users register their own cores the same way the built-in ones are::

    @register_core("mycore")
    class MyCore(MemoryCore): ...

    core = make_core("mycore", input_size=8, hidden_size=32)
"""

from __future__ import annotations

import inspect
import operator
from collections.abc import Callable
from typing import Any, TypeVar

from memrl.memory.base import MemoryCore

CoreClass = TypeVar("CoreClass", bound=type[MemoryCore])

_CORES: dict[str, type[MemoryCore]] = {}


def register_core(name: str, *, overwrite: bool = False) -> Callable[[CoreClass], CoreClass]:
    """Class decorator registering a ``MemoryCore`` subclass under ``name``."""

    def add(cls: CoreClass) -> CoreClass:
        if not (isinstance(cls, type) and issubclass(cls, MemoryCore)):
            raise TypeError(f"register_core({name!r}) needs a MemoryCore subclass, got {cls!r}")
        if name in _CORES and _CORES[name] is not cls and not overwrite:
            raise ValueError(
                f"a core named {name!r} is already registered ({_CORES[name].__name__}); "
                "pass overwrite=True to replace it"
            )
        _CORES[name] = cls
        return cls

    return add


def core_names() -> list[str]:
    """The registered core names, sorted."""
    return sorted(_CORES)


def core_class(name: str | type[MemoryCore]) -> type[MemoryCore]:
    """The class registered under ``name`` (a class is returned as it is)."""
    if isinstance(name, type) and issubclass(name, MemoryCore):
        return name
    try:
        return _CORES[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown memory core {name!r}; registered cores: {', '.join(core_names())} "
            "(or pass a MemoryCore subclass)"
        ) from None


def accepted_kwargs(name: str | type[MemoryCore], offered: dict[str, Any]) -> dict[str, Any]:
    """The entries of ``offered`` that the core's constructor accepts.

    Lets one set of common sizes (``memory_slots``, ``hidden_size``, ...) configure every
    core in benchmarks and tests, each taking the names it knows.
    """
    accepted = inspect.signature(core_class(name).__init__).parameters
    return {key: value for key, value in offered.items() if key in accepted}


def make_core(name: str | type[MemoryCore], input_size: int, **kwargs: Any) -> MemoryCore:
    """Build a core by registered name (or class) for inputs of ``input_size`` features."""
    cls = core_class(name)
    input_size = operator.index(input_size)  # numpy integers (e.g. SB3's features_dim) too
    try:
        return cls(input_size=input_size, **kwargs)
    except TypeError as error:
        raise TypeError(f"bad arguments for memory core {cls.__name__}: {error}") from error
