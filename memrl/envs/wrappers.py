"""The wrapper registry: wrappers by name, as suite files (``envs/*.yaml``) and the command
line apply them, and the public names of every memrl wrapper.

===================  ==========================================  ==============================
name                 factory                                     keyword arguments
===================  ==========================================  ==============================
``minigrid``         :class:`MiniGridObs`                        ``view_size``
``one_hot_image``    :class:`OneHotImage`                        (none)
``popgym``           :func:`popgym_wrapper`                      ``flatten``,
                                                                 ``previous_action``,
                                                                 ``render_mode``
``flatten``          :class:`FlattenObs`                         (none)
``action_subset``    :class:`ActionSubset`                       ``actions``
``previous_action``  :class:`PreviousAction`                     (none)
``history_window``   :class:`memrl.envs.history.HistoryWindow`   ``k``
``time_limit``       ``gymnasium.wrappers.TimeLimit``            ``max_episode_steps``
===================  ==========================================  ==============================

The wrappers live by concern: :mod:`memrl.envs.generic_wrappers` (any environment),
:mod:`memrl.envs.minigrid_wrappers`, :mod:`memrl.envs.popgym_wrappers` and
:mod:`memrl.envs.history`; this module re-exports them.

A wrapper spec (as in the suite files) is either a name (``"flatten"``) or a mapping with a
``name`` key and the keyword arguments beside it (``{"name": "history_window", "k": 8}``).
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import gymnasium as gym
from gymnasium.wrappers import TimeLimit

from memrl.checks import check_int
from memrl.envs.generic_wrappers import ActionSubset, FlattenObs, PreviousAction
from memrl.envs.history import HistoryWindow
from memrl.envs.minigrid_wrappers import MiniGridObs, OneHotImage
from memrl.envs.popgym_wrappers import (
    POPGYM_PREFIX,
    POPGymObs,
    draw_vector_frame,
    make_popgym,
    popgym_wrapper,
    resolve_popgym_id,
)

__all__ = [
    "POPGYM_PREFIX",
    "ActionSubset",
    "FlattenObs",
    "HistoryWindow",
    "MiniGridObs",
    "OneHotImage",
    "POPGymObs",
    "PreviousAction",
    "WrapperSpec",
    "apply_wrapper",
    "apply_wrappers",
    "draw_vector_frame",
    "make_popgym",
    "popgym_wrapper",
    "register_wrapper",
    "resolve_popgym_id",
    "wrapper_names",
    "wrapper_spec_names",
]

WrapperSpec = str | Mapping[str, Any]


def _time_limit(env: gym.Env, max_episode_steps: int) -> gym.Env:
    steps = check_int("time_limit: max_episode_steps", max_episode_steps, minimum=1)
    return TimeLimit(env, max_episode_steps=steps)


_WRAPPERS: dict[str, Callable[..., gym.Env]] = {
    "minigrid": MiniGridObs,
    "one_hot_image": OneHotImage,
    "popgym": popgym_wrapper,
    "flatten": FlattenObs,
    "action_subset": ActionSubset,
    "previous_action": PreviousAction,
    "history_window": HistoryWindow,
    "time_limit": _time_limit,
}


def wrapper_names() -> list[str]:
    """Names accepted by :func:`apply_wrapper` and in suite files, sorted."""
    return sorted(_WRAPPERS)


def register_wrapper(name: str, factory: Callable[..., gym.Env]) -> None:
    """Add a wrapper ``factory(env, **kwargs) -> env`` under ``name`` (must be new)."""
    if name in _WRAPPERS:
        raise ValueError(f"a wrapper named {name!r} is already registered")
    _WRAPPERS[name] = factory


def apply_wrapper(env: gym.Env, name: str, **kwargs: Any) -> gym.Env:
    """Wrap ``env`` with the wrapper registered as ``name``.

    Raises:
        ValueError: unknown name (the message lists the known ones) or keyword arguments the
            wrapper does not accept (the message lists the accepted ones).
    """
    if name not in _WRAPPERS:
        close = difflib.get_close_matches(name, _WRAPPERS, n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise ValueError(
            f"unknown wrapper {name!r}{hint}; known wrappers: {', '.join(wrapper_names())}"
        )
    factory = _WRAPPERS[name]
    signature = inspect.signature(factory)
    try:
        signature.bind(env, **kwargs)
    except TypeError as error:
        accepted = [p for p in list(signature.parameters)[1:]]
        raise ValueError(
            f"wrapper {name!r}: bad arguments {sorted(kwargs)} ({error}); "
            f"accepted: {', '.join(accepted) or 'none'}"
        ) from error
    return factory(env, **kwargs)


def _parse_spec(spec: WrapperSpec) -> tuple[str, dict[str, Any]]:
    if isinstance(spec, str):
        return spec, {}
    if isinstance(spec, Mapping) and isinstance(spec.get("name"), str):
        kwargs = {key: value for key, value in spec.items() if key != "name"}
        return spec["name"], kwargs
    raise ValueError(
        f"bad wrapper spec {spec!r}: expected a name or a mapping like "
        "{'name': 'history_window', 'k': 8}"
    )


def apply_wrappers(env: gym.Env, specs: Sequence[WrapperSpec] | None) -> gym.Env:
    """Apply wrapper specs in order (first spec innermost); see the module docstring."""
    for spec in specs or ():
        name, kwargs = _parse_spec(spec)
        env = apply_wrapper(env, name, **kwargs)
    return env


def wrapper_spec_names(specs: Sequence[WrapperSpec] | None) -> list[str]:
    """The wrapper names in ``specs``, validating each spec's form."""
    return [_parse_spec(spec)[0] for spec in specs or ()]
