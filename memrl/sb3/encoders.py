"""Observation encoders chosen by observation space, before the memory core.

SB3's own extractors are used where they fit (``FlattenExtractor`` for vectors,
``NatureCNN`` for Atari-sized images). MiniGrid's 7x7 or 3x3 egocentric views are far
below NatureCNN's 36x36 minimum, so small images get a small padded CNN.
"""

from __future__ import annotations

import gymnasium as gym
import torch
from gymnasium import spaces
from stable_baselines3.common.preprocessing import get_flattened_obs_dim, is_image_space
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor, FlattenExtractor, NatureCNN
from torch import Tensor, nn

# NatureCNN's kernels (8, 4, 3 with strides 4, 2, 1) need at least 36 pixels a side.
NATURE_CNN_MIN_SIZE = 36


def _is_small_image(space: gym.Space) -> bool:
    if not is_image_space(space, check_channels=False):
        return False
    return min(space.shape[1:]) < NATURE_CNN_MIN_SIZE  # channel-first after SB3's transpose


class SmallImageCNN(BaseFeaturesExtractor):
    """A CNN for small channel-first images (e.g. MiniGrid's 7x7 or 3x3 views).

    Two 3x3 convolutions with padding keep the spatial size, so any image of at least
    1x1 works; a linear layer then maps to ``features_dim``.

    Args:
        observation_space: ``Box`` of shape ``[C, H, W]`` (uint8 images are scaled by SB3).
        features_dim: output size.
    """

    def __init__(self, observation_space: spaces.Box, features_dim: int = 64) -> None:
        super().__init__(observation_space, features_dim)
        channels, height, width = observation_space.shape
        self.cnn = nn.Sequential(
            nn.Conv2d(channels, 16, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.Conv2d(16, 32, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.Flatten(),
        )
        self.linear = nn.Sequential(nn.Linear(32 * height * width, features_dim), nn.ReLU())

    def forward(self, observations: Tensor) -> Tensor:
        """``[B, C, H, W]`` -> ``[B, features_dim]``."""
        return self.linear(self.cnn(observations))


class DictEncoder(BaseFeaturesExtractor):
    """Like SB3's ``CombinedExtractor``, but small images get ``SmallImageCNN``.

    Args:
        observation_space: a ``Dict`` space.
        cnn_output_dim: features per image key.
    """

    def __init__(self, observation_space: spaces.Dict, cnn_output_dim: int = 64) -> None:
        super().__init__(observation_space, features_dim=1)
        extractors: dict[str, nn.Module] = {}
        total = 0
        for key, subspace in observation_space.spaces.items():
            if _is_small_image(subspace):
                extractors[key] = SmallImageCNN(subspace, cnn_output_dim)
                total += cnn_output_dim
            elif is_image_space(subspace):
                extractors[key] = NatureCNN(subspace, features_dim=cnn_output_dim)
                total += cnn_output_dim
            else:
                extractors[key] = nn.Flatten()
                total += get_flattened_obs_dim(subspace)
        self.extractors = nn.ModuleDict(extractors)
        self._features_dim = total

    def forward(self, observations: dict[str, Tensor]) -> Tensor:
        """Each key encoded, then concatenated: ``[B, sum of per-key features]``."""
        return torch.cat([enc(observations[k]) for k, enc in self.extractors.items()], dim=1)


def default_encoder_class(observation_space: gym.Space) -> type[BaseFeaturesExtractor]:
    """The encoder memrl uses for a space when the user names none."""
    if isinstance(observation_space, spaces.Dict):
        return DictEncoder
    if _is_small_image(observation_space):
        return SmallImageCNN
    if is_image_space(observation_space, check_channels=False):
        return NatureCNN
    return FlattenExtractor
