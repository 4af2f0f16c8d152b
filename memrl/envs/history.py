"""``HistoryWindow``: the last K observations of the episode as one float32 array.

The window is what ``WindowMemoryExtractor`` (memrl.sb3) consumes: a plain SB3 features
extractor that runs a memory core over the rows from a fresh state, so any SB3 algorithm with
``"MlpPolicy"`` can use a memory core without a recurrent rollout buffer.

Layout of one window, shape ``[K, 1 + D]`` (K = ``k``, D = ``flatdim`` of the wrapped
observation space)::

    row 0      oldest observation kept      (or padding)
    ...
    row K - 1  newest observation (o_t)

    column 0   validity mask: 1.0 for a real observation of this episode,
               0.0 for padding before the episode began
    columns 1: the observation flattened with ``gymnasium.spaces.flatten``
               (Box as is, Discrete / MultiDiscrete one-hot, Dict / Tuple concatenated)

Padding rows are all zeros (mask included), so a window at the first step of an episode is
``K - 1`` zero rows followed by ``[1, flatten(o_0)]``.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from memrl.checks import check_int

__all__ = ["HistoryWindow"]


class HistoryWindow(gym.ObservationWrapper, gym.utils.RecordConstructorArgs):
    """Replace each observation by the window of the last ``k`` observations plus a validity mask.

    Args:
        env: any environment whose observation space ``gymnasium.spaces.flatten`` supports
            (Box, Discrete, MultiDiscrete, MultiBinary, Dict and Tuple of these).
        k: number of observations kept (K), at least 1.

    Observation space: ``Box(float32, shape=(k, 1 + D))``; see the module docstring for the
    layout. Bounds: column 0 in [0, 1]; the other columns span the flattened space's bounds
    widened to include 0 (the padding value).

    ``reset`` clears the window, so no observation of a previous episode is ever visible.
    """

    MASK_COLUMN = 0

    def __init__(self, env: gym.Env, k: int) -> None:
        k = check_int("HistoryWindow: k", k, minimum=1)
        gym.utils.RecordConstructorArgs.__init__(self, k=k)
        super().__init__(env)
        self.k = k
        self._inner_space = env.observation_space
        try:
            flat_space = spaces.flatten_space(self._inner_space)
        except NotImplementedError as error:
            raise ValueError(
                f"HistoryWindow: cannot flatten observation space {self._inner_space}; "
                "accepted: Box, Discrete, MultiDiscrete, MultiBinary, and Dict/Tuple of these"
            ) from error
        self.obs_size = int(flat_space.shape[0])
        low = np.minimum(flat_space.low.astype(np.float32), 0.0)
        high = np.maximum(flat_space.high.astype(np.float32), 0.0)
        row_low = np.concatenate([np.zeros(1, dtype=np.float32), low])
        row_high = np.concatenate([np.ones(1, dtype=np.float32), high])
        self.observation_space = spaces.Box(
            low=np.tile(row_low, (self.k, 1)),
            high=np.tile(row_high, (self.k, 1)),
            dtype=np.float32,
        )
        self._window = np.zeros((self.k, 1 + self.obs_size), dtype=np.float32)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        self._window[:] = 0.0
        return super().reset(seed=seed, options=options)

    def observation(self, observation: Any) -> np.ndarray:
        """Push ``observation`` as the newest row and return a copy of the window ``[K, 1 + D]``."""
        self._window[:-1] = self._window[1:]
        self._window[-1, self.MASK_COLUMN] = 1.0
        self._window[-1, 1:] = spaces.flatten(self._inner_space, observation)
        return self._window.copy()
