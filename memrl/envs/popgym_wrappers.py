"""POPGym environments made ready for Stable-Baselines3 (SB3), with frames.

:func:`make_popgym` makes a task by name (``popgym-`` prefix and ``-v0`` optional, see
:func:`resolve_popgym_id`) and applies :func:`popgym_wrapper`: :class:`POPGymObs` (flat
float32 observations, copied infos, frames drawn with :func:`draw_vector_frame` for the
tasks that draw nothing), after :class:`~memrl.envs.generic_wrappers.PreviousAction` where
the task needs the previous action.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from memrl.checks import check_choice
from memrl.envs.generic_wrappers import PreviousAction, float32_box

__all__ = [
    "POPGYM_PREFIX",
    "POPGymObs",
    "draw_vector_frame",
    "make_popgym",
    "popgym_wrapper",
    "resolve_popgym_id",
]

POPGYM_PREFIX = "popgym-"
RENDER_MODES = (None, "rgb_array")


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
        check_choice("POPGymObs: render_mode", render_mode, RENDER_MODES)
        self._inner_space = env.observation_space
        self._flatten = flatten or not _sb3_accepts(self._inner_space)
        if self._flatten:
            self.observation_space = float32_box(spaces.flatten_space(self._inner_space))
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


def _creator(env_id: str) -> Callable[..., gym.Env]:
    """The class or function registered to make ``env_id``."""
    entry_point = gym.spec(env_id).entry_point
    if isinstance(entry_point, str):
        return gym.envs.registration.load_env_creator(entry_point)
    return entry_point


def _native_render_modes(env_id: str) -> list[str]:
    return list(getattr(_creator(env_id), "metadata", {}).get("render_modes", []))


def _accepts_render_mode(env_id: str) -> bool:
    creator = _creator(env_id)
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
    check_choice("make_popgym: render_mode", render_mode, RENDER_MODES)
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
