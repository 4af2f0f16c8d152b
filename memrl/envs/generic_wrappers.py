"""Generic wrappers for Stable-Baselines3 (SB3): any environment, any space.

- :class:`FlattenObs`: any observation as one float32 vector.
- :class:`PreviousAction`: the previous action appended to the (flattened) observation.
- :class:`ActionSubset`: only some of a discrete action space's actions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

__all__ = ["ActionSubset", "FlattenObs", "PreviousAction", "float32_box"]


def float32_box(space: spaces.Box) -> spaces.Box:
    """``space`` with float32 bounds and dtype."""
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
        self.observation_space = float32_box(spaces.flatten_space(self._inner_space))

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


class ActionSubset(gym.ActionWrapper, gym.utils.RecordConstructorArgs):
    """Offer the agent only some actions of a ``Discrete`` action space.

    For tasks whose extra actions do nothing useful and only make exploration harder, e.g.
    MiniGrid's Memory rooms, where only left, right and forward matter (``actions=[0, 1, 2]``;
    pickup, drop, toggle and done leave the agent in place).

    Action space: ``Discrete(len(actions))``; the agent's action ``i`` is the inner action
    ``actions[i]``.

    Args:
        env: an environment with a ``Discrete`` action space.
        actions: the inner actions to keep, in the order the agent numbers them: distinct
            ints of the inner space, at least one.

    Raises:
        ValueError: the action space is not ``Discrete``, or ``actions`` is empty, holds a
            non-int, a repeat, or an action the inner space does not have.
    """

    def __init__(self, env: gym.Env, actions: Sequence[int]) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, actions=actions)
        super().__init__(env)
        inner = env.action_space
        if not isinstance(inner, spaces.Discrete):
            raise ValueError(f"action_subset needs a Discrete action space, got {inner}")
        first, count = int(inner.start), int(inner.n)
        valid = range(first, first + count)
        if (
            isinstance(actions, str | bytes)
            or not isinstance(actions, Sequence)
            or not actions
            or any(isinstance(a, bool) or not isinstance(a, int | np.integer) for a in actions)
            or len(set(actions)) != len(actions)
            or any(a not in valid for a in actions)
        ):
            raise ValueError(
                f"action_subset: actions must be distinct ints in {first}..{first + count - 1} "
                f"(the inner Discrete({count}) space), at least one; got {actions!r}"
            )
        self._inner_actions = tuple(int(a) for a in actions)
        self.action_space = spaces.Discrete(len(actions))

    def action(self, action: Any) -> int:
        return self._inner_actions[int(action)]
