"""MiniGrid observations for Stable-Baselines3 (SB3): :class:`MiniGridObs`."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from memrl.checks import check_int

__all__ = ["MiniGridObs", "check_view_size"]


def check_view_size(view_size: Any) -> int:
    """``view_size`` as an int if it is a valid side of MiniGrid's agent view (odd, >= 3)."""
    view_size = check_int("view_size", view_size, minimum=3)
    if view_size % 2 == 0:
        raise ValueError(f"view_size must be odd (the agent sits in the middle), got {view_size}")
    return view_size


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
            view_size = check_view_size(view_size)
            if view_size != own_size:
                env = ViewSizeWrapper(env, agent_view_size=view_size)
        super().__init__(env)
        self.view_size = view_size if view_size is not None else own_size
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
