"""Wrappers making MiniGrid and POPGym environments ready for Stable-Baselines3 (SB3).

Also a small registry ``name -> wrapper factory`` so that suite files (``envs/*.yaml``) and
the command line can apply wrappers by name:

===================  ==========================================  ==============================
name                 factory                                     keyword arguments
===================  ==========================================  ==============================
``minigrid``         :class:`MiniGridObs`                        ``view_size``
``popgym``           :func:`popgym_wrapper`                      ``flatten``,
                                                                 ``previous_action``,
                                                                 ``render_mode``
``flatten``          :class:`FlattenObs`                         (none)
``previous_action``  :class:`PreviousAction`                     (none)
``history_window``   :class:`memrl.envs.history.HistoryWindow`   ``k``
``time_limit``       ``gymnasium.wrappers.TimeLimit``            ``max_episode_steps``
===================  ==========================================  ==============================

A wrapper spec (as in the suite files) is either a name (``"flatten"``) or a mapping with a
``name`` key and the keyword arguments beside it (``{"name": "history_window", "k": 8}``).
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.wrappers import TimeLimit

from memrl.envs.history import HistoryWindow

__all__ = [
    "FlattenObs",
    "MiniGridObs",
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

POPGYM_PREFIX = "popgym-"

WrapperSpec = str | Mapping[str, Any]


def _float32_box(space: spaces.Box) -> spaces.Box:
    return spaces.Box(
        low=space.low.astype(np.float32), high=space.high.astype(np.float32), dtype=np.float32
    )


class FlattenObs(gym.ObservationWrapper, gym.utils.RecordConstructorArgs):
    """Flatten any observation into a 1-D float32 vector with ``gymnasium.spaces.flatten``.

    Discrete parts become one-hot vectors, Dict/Tuple parts are concatenated (Dict keys in the
    space's order). Unlike ``gymnasium.wrappers.FlattenObservation`` the result is always
    float32 (what SB3's ``MlpPolicy`` expects, and no CNN heuristics on uint8 parts).

    Observation space: ``Box(float32, shape=(D,))`` with ``D = flatdim(inner space)``.
    """

    def __init__(self, env: gym.Env) -> None:
        gym.utils.RecordConstructorArgs.__init__(self)
        super().__init__(env)
        self._inner_space = env.observation_space
        self.observation_space = _float32_box(spaces.flatten_space(self._inner_space))

    def observation(self, observation: Any) -> np.ndarray:
        return spaces.flatten(self._inner_space, observation).astype(np.float32, copy=False)


class PreviousAction(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Append the previous action to the (flattened) observation.

    POPGym marks some tasks (``obs_requires_prev_action``: Battleship, Concentration,
    MineSweeper, MultiarmedBandit) as needing the previous action in the observation.

    Observation space: ``Box(float32, shape=(D + A,))``: the flattened observation (D) then the
    flattened previous action (A, one-hot for discrete actions). At reset the action part is
    all zeros, which no real one-hot action produces, so "no action yet" is distinguishable.
    """

    def __init__(self, env: gym.Env) -> None:
        gym.utils.RecordConstructorArgs.__init__(self)
        super().__init__(env)
        self._inner_space = env.observation_space
        obs_box = spaces.flatten_space(self._inner_space)
        act_box = spaces.flatten_space(env.action_space)
        self._act_size = int(act_box.shape[0])
        low = np.concatenate([obs_box.low, np.minimum(act_box.low, 0)]).astype(np.float32)
        high = np.concatenate([obs_box.high, np.maximum(act_box.high, 0)]).astype(np.float32)
        self.observation_space = spaces.Box(low=low, high=high, dtype=np.float32)

    def _combine(self, observation: Any, action_vector: np.ndarray) -> np.ndarray:
        flat = spaces.flatten(self._inner_space, observation).astype(np.float32, copy=False)
        return np.concatenate([flat, action_vector.astype(np.float32, copy=False)])

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        observation, info = self.env.reset(seed=seed, options=options)
        return self._combine(observation, np.zeros(self._act_size, dtype=np.float32)), info

    def step(self, action: Any) -> tuple[np.ndarray, Any, bool, bool, dict[str, Any]]:
        observation, reward, terminated, truncated, info = self.env.step(action)
        action_vector = spaces.flatten(self.env.action_space, action)
        return self._combine(observation, action_vector), reward, terminated, truncated, info


# ----------------------------------------------------------------------------------------------
# MiniGrid


def _minigrid_image_high() -> np.ndarray:
    from minigrid.core.constants import COLOR_TO_IDX, OBJECT_TO_IDX

    # Channel 2 is a door's state (0..2) or, under FullyObsWrapper, the agent's direction (0..3).
    return np.array([max(OBJECT_TO_IDX.values()), max(COLOR_TO_IDX.values()), 3], dtype=np.uint8)


class MiniGridObs(gym.ObservationWrapper, gym.utils.RecordConstructorArgs):
    """MiniGrid observations for SB3: the symbolic image and the direction, no mission text.

    Observation space (a ``Dict``, for SB3's ``MultiInputPolicy``)::

        "image":     Box(uint8, shape=(V, V, 3))  per cell (OBJECT_IDX, COLOR_IDX, STATE),
                     V = view size, the agent at the bottom centre looking up
        "direction": Discrete(4)                  0 right, 1 down, 2 left, 3 up

    The image's upper bounds are the real maxima per channel (10, 5, 3), not 255. That is a
    deliberate choice: SB3 treats a uint8 Box bounded by [0, 255] as a picture, scales it by
    1/255 and sends it through NatureCNN, which cannot even be built for a 3x3 view and would
    squash the small category indices. With these bounds SB3's ``CombinedExtractor`` flattens
    the image as raw indices and one-hot encodes the direction, so ``MultiInputPolicy`` works
    out of the box at any view size (SB3's ``check_env`` still warns that a 3-D Box "seems to be
    an image": expected). For ``MlpPolicy`` add the ``flatten`` wrapper after this one.

    Args:
        env: a MiniGrid environment (``env.unwrapped`` is a ``minigrid.minigrid_env.MiniGridEnv``).
        view_size: side of the agent's square view (odd, >= 3). ``None`` keeps the env's own
            ``agent_view_size`` (7 by default). A different size is applied with
            ``minigrid.wrappers.ViewSizeWrapper``; the full-view frame (``render()``) then still
            highlights the env's own view size. :func:`memrl.envs.make` avoids that by passing
            ``agent_view_size`` to the environment's constructor instead.

    Frames: ``render()`` is MiniGrid's own (``render_mode="rgb_array"``: the full grid,
    ``tile_size`` pixels per cell, the agent's view highlighted).
    """

    def __init__(self, env: gym.Env, view_size: int | None = None) -> None:
        from minigrid.minigrid_env import MiniGridEnv
        from minigrid.wrappers import ViewSizeWrapper

        gym.utils.RecordConstructorArgs.__init__(self, view_size=view_size)
        if not isinstance(env.unwrapped, MiniGridEnv):
            raise ValueError(
                f"MiniGridObs needs a MiniGrid environment, got {type(env.unwrapped).__name__}"
            )
        own_size = int(env.unwrapped.agent_view_size)
        if view_size is not None:
            if isinstance(view_size, bool) or not isinstance(view_size, int | np.integer):
                raise ValueError(f"view_size must be an odd integer >= 3, got {view_size!r}")
            if view_size < 3 or view_size % 2 == 0:
                raise ValueError(f"view_size must be an odd integer >= 3, got {view_size}")
            if view_size != own_size:
                env = ViewSizeWrapper(env, agent_view_size=int(view_size))
        super().__init__(env)
        self.view_size = int(view_size) if view_size is not None else own_size
        high = np.broadcast_to(_minigrid_image_high(), (self.view_size, self.view_size, 3))
        self.observation_space = spaces.Dict(
            {
                "image": spaces.Box(low=0, high=high.copy(), dtype=np.uint8),
                "direction": spaces.Discrete(4),
            }
        )

    def observation(self, observation: dict[str, Any]) -> dict[str, Any]:
        return {
            "image": np.asarray(observation["image"], dtype=np.uint8),
            "direction": int(observation["direction"]),
        }


# ----------------------------------------------------------------------------------------------
# POPGym


def draw_vector_frame(
    rows: Sequence[np.ndarray],
    colors: Sequence[tuple[int, int, int]],
    cell: int = 16,
    columns: int = 32,
) -> np.ndarray:
    """Draw rows of values in [0, 1] as coloured cells: a frame for envs that draw nothing.

    Args:
        rows: R vectors (any lengths) of values in [0, 1]; value v is drawn as
            ``(0.15 + 0.85 v) * color`` on a dark background. A vector longer than ``columns``
            wraps onto further lines.
        colors: one RGB colour per row.
        cell: side of one cell in pixels.
        columns: cells per line.

    Returns:
        ``[H, W, 3]`` uint8 with ``H = L * (cell + 2) + 2``, L the number of lines
        (``sum(ceil(len(row) / columns))``, at least one per row), and
        ``W = min(columns, max(8, longest row)) * (cell + 2) + 2``.
    """
    pad = 2
    n_cols = min(columns, max([8, *(len(row) for row in rows)]))
    lines_per_row = [max(1, -(-len(row) // columns)) for row in rows]
    height = sum(lines_per_row) * (cell + pad) + pad
    width = n_cols * (cell + pad) + pad
    frame = np.full((height, width, 3), 24, dtype=np.uint8)
    first_line = 0
    for row, color, n_lines in zip(rows, colors, lines_per_row, strict=True):
        values = np.clip(np.nan_to_num(np.asarray(row, dtype=np.float64)), 0.0, 1.0)
        for index, value in enumerate(values):
            line, column = divmod(index, columns)
            top = pad + (first_line + line) * (cell + pad)
            left = pad + column * (cell + pad)
            shade = np.asarray(color, dtype=np.float64) * (0.15 + 0.85 * value)
            frame[top : top + cell, left : left + cell] = shade.astype(np.uint8)
        first_line += n_lines
    return frame


def _normalise(vector: np.ndarray, space: spaces.Box) -> np.ndarray:
    low = space.low.astype(np.float64)
    high = space.high.astype(np.float64)
    finite = np.isfinite(low) & np.isfinite(high) & (high > low)
    span = np.where(finite, high - low, 1.0)
    scaled = np.where(finite, (vector - low) / span, 0.5 + 0.5 * np.tanh(vector))
    return np.clip(scaled, 0.0, 1.0)


class POPGymObs(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Make a POPGym environment SB3-ready and give it frames.

    - Observation: flattened to ``Box(float32, shape=(D,))`` with ``gymnasium.spaces.flatten``
      when ``flatten=True`` (the default: one uniform vector for every POPGym task; Discrete
      parts one-hot, which is also what SB3 would do). With ``flatten=False`` only spaces SB3
      does not accept (Tuple, Dict with nested Dict/Tuple, multi-dimensional MultiDiscrete) are
      flattened.
    - ``info`` dicts are copied on every call: POPGym's CountRecall and MultiarmedBandit return
      the same mutable object from ``reset`` and ``step``, which Gymnasium's ``check_env``
      rejects (later steps would rewrite earlier infos a user kept).
    - Frames: POPGym's CartPole and Pendulum tasks draw themselves (``render_mode="rgb_array"``
      is passed to them). The card, game and bandit tasks draw nothing (their ``render`` prints
      text); for them, with ``render_mode="rgb_array"`` this wrapper draws the current
      observation (grey row, normalised by the space bounds), the last action (blue row) and
      the sign of the last reward (green > 0, red < 0) with :func:`draw_vector_frame`.

    Args:
        env: a POPGym environment.
        flatten: see above.
        render_mode: ``"rgb_array"`` or ``None``; ``None`` keeps ``env.render_mode``.
    """

    def __init__(self, env: gym.Env, flatten: bool = True, render_mode: str | None = None) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, flatten=flatten, render_mode=render_mode)
        super().__init__(env)
        if render_mode not in (None, "rgb_array"):
            raise ValueError(
                f"POPGymObs: render_mode must be None or 'rgb_array', got {render_mode!r}"
            )
        self._inner_space = env.observation_space
        self._flatten = flatten or not _sb3_accepts(self._inner_space)
        if self._flatten:
            self.observation_space = _float32_box(spaces.flatten_space(self._inner_space))
        self._native_frames = env.render_mode == "rgb_array"
        self._render_mode = render_mode if render_mode is not None else env.render_mode
        if self._render_mode == "rgb_array" and not self._native_frames:
            self.metadata = {
                **env.metadata,
                "render_modes": ["rgb_array"],
                "render_fps": env.metadata.get("render_fps", 4),
            }
        self._frame_rows: tuple[np.ndarray, np.ndarray, float] | None = None

    @property
    def render_mode(self) -> str | None:  # type: ignore[override]
        return self._render_mode

    def _observe(self, observation: Any) -> Any:
        if self._flatten:
            return spaces.flatten(self._inner_space, observation).astype(np.float32, copy=False)
        return observation

    def _remember(self, observation: Any, action: Any, reward: float) -> None:
        if self._native_frames or self._render_mode != "rgb_array":
            return
        flat_obs = spaces.flatten(self._inner_space, observation).astype(np.float64)
        obs_row = _normalise(flat_obs, spaces.flatten_space(self._inner_space))
        action_space = self.env.action_space
        if action is None:
            action_row = np.zeros(spaces.flatdim(action_space))
        else:
            flat_action = spaces.flatten(action_space, action).astype(np.float64)
            action_row = _normalise(flat_action, spaces.flatten_space(action_space))
        self._frame_rows = (obs_row, action_row, float(reward))

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        observation, info = self.env.reset(seed=seed, options=options)
        self._remember(observation, None, 0.0)
        return self._observe(observation), _copy_info(info)

    def step(self, action: Any) -> tuple[Any, Any, bool, bool, dict[str, Any]]:
        observation, reward, terminated, truncated, info = self.env.step(action)
        self._remember(observation, action, float(reward))
        return self._observe(observation), reward, terminated, truncated, _copy_info(info)

    def render(self) -> Any:
        if self._native_frames or self._render_mode != "rgb_array":
            return self.env.render()
        if self._frame_rows is None:
            raise gym.error.ResetNeeded("Call reset() before render()")
        obs_row, action_row, reward = self._frame_rows
        reward_color = (
            (60, 220, 60) if reward > 0 else (230, 50, 50) if reward < 0 else (90, 90, 90)
        )
        return draw_vector_frame(
            [obs_row, action_row, np.ones(1)],
            [(255, 255, 255), (80, 140, 255), reward_color],
        )


def _copy_info(info: dict[str, Any]) -> dict[str, Any]:
    return {
        key: value.copy() if isinstance(value, np.ndarray) else value for key, value in info.items()
    }


def _sb3_accepts(space: spaces.Space) -> bool:
    if isinstance(space, spaces.Box | spaces.Discrete | spaces.MultiBinary):
        return True
    if isinstance(space, spaces.MultiDiscrete):
        return space.nvec.ndim == 1
    if isinstance(space, spaces.Dict):
        return all(
            not isinstance(sub, spaces.Dict | spaces.Tuple) and _sb3_accepts(sub)
            for sub in space.spaces.values()
        )
    return False


def popgym_wrapper(
    env: gym.Env,
    flatten: bool = True,
    previous_action: bool | None = None,
    render_mode: str | None = None,
) -> gym.Env:
    """The standard POPGym wrapping: optional :class:`PreviousAction`, then :class:`POPGymObs`.

    Args:
        env: a POPGym environment.
        flatten: passed to :class:`POPGymObs`.
        previous_action: append the previous action to the observation; ``None`` (default)
            follows POPGym's own ``obs_requires_prev_action`` flag for the task.
        render_mode: passed to :class:`POPGymObs`.
    """
    if previous_action is None:
        previous_action = bool(getattr(env.unwrapped, "obs_requires_prev_action", False))
    if previous_action:
        env = PreviousAction(env)
    return POPGymObs(env, flatten=flatten, render_mode=render_mode)


def _popgym_ids() -> list[str]:
    import popgym  # noqa: F401  (registers the popgym-... ids)

    return sorted(env_id for env_id in gym.registry if env_id.startswith(POPGYM_PREFIX))


def resolve_popgym_id(name: str) -> str:
    """The registered POPGym id for ``name``, with or without the ``popgym-`` prefix and ``-v0``.

    ``"popgym-RepeatPreviousEasy-v0"``, ``"RepeatPreviousEasy-v0"`` and ``"RepeatPreviousEasy"``
    all give ``"popgym-RepeatPreviousEasy-v0"``. Unknown names raise ``ValueError`` naming
    close matches.
    """
    known = _popgym_ids()
    base = name.removeprefix(POPGYM_PREFIX)
    candidates = [POPGYM_PREFIX + base]
    if "-v" not in base:
        candidates.append(POPGYM_PREFIX + base + "-v0")
    for candidate in candidates:
        if candidate in known:
            return candidate
    close = difflib.get_close_matches(candidates[-1], known, n=5, cutoff=0.5)
    hint = f"; close matches: {', '.join(close)}" if close else ""
    raise ValueError(f"unknown POPGym environment {name!r}{hint} (all: {', '.join(known)})")


def _native_render_modes(env_id: str) -> list[str]:
    entry_point = gym.spec(env_id).entry_point
    creator = (
        gym.envs.registration.load_env_creator(entry_point)
        if isinstance(entry_point, str)
        else entry_point
    )
    return list(getattr(creator, "metadata", {}).get("render_modes", []))


def _accepts_render_mode(env_id: str) -> bool:
    entry_point = gym.spec(env_id).entry_point
    creator = (
        gym.envs.registration.load_env_creator(entry_point)
        if isinstance(entry_point, str)
        else entry_point
    )
    parameters = inspect.signature(creator).parameters.values()
    return any(p.name == "render_mode" or p.kind is p.VAR_KEYWORD for p in parameters)


def make_popgym(
    name: str,
    render_mode: str | None = None,
    flatten: bool = True,
    previous_action: bool | None = None,
    **kwargs: Any,
) -> gym.Env:
    """Make a POPGym environment by name, SB3-ready (see :func:`popgym_wrapper`).

    Args:
        name: with or without the ``popgym-`` prefix (see :func:`resolve_popgym_id`).
        render_mode: ``None`` or ``"rgb_array"``: the task's own frames where POPGym draws
            them (CartPole, Pendulum), otherwise :class:`POPGymObs`'s observation frames.
        flatten, previous_action: see :func:`popgym_wrapper`.
        **kwargs: passed to ``gymnasium.make`` (constructor arguments, ``max_episode_steps``).
    """
    env_id = resolve_popgym_id(name)
    if render_mode not in (None, "rgb_array"):
        raise ValueError(
            f"make_popgym: render_mode must be None or 'rgb_array', got {render_mode!r}"
        )
    native = render_mode is not None and render_mode in _native_render_modes(env_id)
    # Gymnasium's passive checker sits under POPGymObs and would warn about the shared infos
    # that POPGymObs fixes; the wrapped env passes gymnasium's full check_env instead.
    kwargs.setdefault("disable_env_checker", True)
    if native:
        # Several POPGym tasks draw themselves but do not take render_mode (the Noisy* tasks,
        # the Medium/Hard Pendulums) or drop it (the Medium/Hard CartPoles): set it afterwards.
        if _accepts_render_mode(env_id):
            env = gym.make(env_id, render_mode=render_mode, **kwargs)
        else:
            env = gym.make(env_id, **kwargs)
        if env.unwrapped.render_mode != render_mode:
            env.unwrapped.render_mode = render_mode
    else:
        env = gym.make(env_id, **kwargs)
    return popgym_wrapper(
        env, flatten=flatten, previous_action=previous_action, render_mode=render_mode
    )


# ----------------------------------------------------------------------------------------------
# Registry


def _time_limit(env: gym.Env, max_episode_steps: int) -> gym.Env:
    if isinstance(max_episode_steps, bool) or not isinstance(max_episode_steps, int | np.integer):
        raise ValueError(
            f"time_limit: max_episode_steps must be a positive integer, got {max_episode_steps!r}"
        )
    if max_episode_steps < 1:
        raise ValueError(f"time_limit: max_episode_steps must be >= 1, got {max_episode_steps}")
    return TimeLimit(env, max_episode_steps=int(max_episode_steps))


_WRAPPERS: dict[str, Callable[..., gym.Env]] = {
    "minigrid": MiniGridObs,
    "popgym": popgym_wrapper,
    "flatten": FlattenObs,
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
