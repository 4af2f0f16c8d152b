"""MiniGrid observations for Stable-Baselines3 (SB3): :class:`MiniGridObs`, and
:class:`OneHotImage` for its cells as one-hot codes."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from memrl.checks import check_int

__all__ = ["MiniGridObs", "OneHotImage", "check_view_size"]


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


class OneHotImage(gym.ObservationWrapper, gym.utils.RecordConstructorArgs):
    """The ``"image"`` of a ``Dict`` observation as one-hot codes: each channel of each cell
    (a category index from 0 to that channel's upper bound) becomes a block of bits.

    Why: :class:`MiniGridObs` hands the encoder raw indices, so a key (object 5) and a ball
    (object 6) differ by one unit of one input, as does a red and a green object. One-hot
    codes make every object, colour and state its own input. MiniGrid's own
    ``OneHotPartialObsWrapper`` declares its bits as a [0, 255] picture, which SB3 would scale
    by 1/255 and send to a CNN; here the bounds are [0, 1], so SB3's and memrl's extractors
    flatten the bits as they are.

    Observation space: the inner ``Dict`` with ``"image"`` replaced by
    ``Box(uint8, 0, 1, shape=(H, W, sum_c (high_c + 1)))``: after :class:`MiniGridObs`
    (highs 10, 5, 3) that is 21 bits per cell, channel 0's bits first. Other keys pass through.

    Args:
        env: an environment whose observation space is a ``Dict`` with an ``"image"`` ``Box``
            of integer dtype, shape ``(H, W, C)``, lower bound 0 and one upper bound per channel
            (the same in every cell), as :class:`MiniGridObs` gives.
    """

    def __init__(self, env: gym.Env) -> None:
        gym.utils.RecordConstructorArgs.__init__(self)
        super().__init__(env)
        highs = _channel_highs(env.observation_space)
        sizes = highs.astype(np.int64) + 1
        # Where each channel's block of bits starts in a cell's code.
        self._offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        height, width, _ = env.observation_space["image"].shape
        self._image_shape = (height, width, int(sizes.sum()))
        self.observation_space = spaces.Dict(
            {
                **env.observation_space.spaces,
                "image": spaces.Box(low=0, high=1, shape=self._image_shape, dtype=np.uint8),
            }
        )

    def observation(self, observation: dict[str, Any]) -> dict[str, Any]:
        image = np.asarray(observation["image"], dtype=np.int64)
        bits = np.zeros(self._image_shape, dtype=np.uint8)
        np.put_along_axis(bits, image + self._offsets, 1, axis=-1)
        return {**observation, "image": bits}


def _channel_highs(space: gym.Space) -> np.ndarray:
    """The upper bound of each channel of ``space["image"]``; ValueError naming what is
    wrong when it is not an integer ``(H, W, C)`` Box from 0 with one bound per channel."""
    image = space.spaces.get("image") if isinstance(space, spaces.Dict) else None
    if not isinstance(image, spaces.Box):
        raise ValueError(
            f"one_hot_image needs a Dict observation space with an 'image' Box, got {space}"
        )
    if not np.issubdtype(image.dtype, np.integer) or len(image.shape) != 3:
        raise ValueError(
            "one_hot_image needs an integer 'image' of shape (H, W, C), got "
            f"dtype {image.dtype}, shape {image.shape}"
        )
    if np.any(image.low != 0):
        raise ValueError(
            "one_hot_image needs category indices from 0 in 'image', got lower bounds "
            f"{image.low.min()}..{image.low.max()}"
        )
    highs = image.high.reshape(-1, image.shape[-1])
    if np.any(highs != highs[0]):
        raise ValueError(
            "one_hot_image needs one upper bound per channel of 'image', the same in every "
            "cell; the bounds differ between cells"
        )
    return highs[0]
