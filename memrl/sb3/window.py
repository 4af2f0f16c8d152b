"""A memory core as a plain SB3 features extractor, for any SB3 algorithm.

``memrl.envs.HistoryWindow(env, k)`` turns each observation into the last ``k``
observations: a ``Box`` of shape ``(k, 1 + D)`` whose column 0 marks real rows (1) versus
padding before the episode began (0), oldest row first. ``WindowMemoryExtractor`` runs a
core over those rows from a fresh state and returns its last output, so PPO, A2C, DQN,
SAC ... get a memory of the last ``k`` steps without knowing about recurrent state::

    env = HistoryWindow(gym.make("memrl/TMaze-v0"), k=16)
    model = PPO("MlpPolicy", env, policy_kwargs=dict(
        features_extractor_class=WindowMemoryExtractor,
        features_extractor_kwargs=dict(memory="ntm", memory_kwargs=dict(memory_slots=16))))
"""

from __future__ import annotations

from typing import Any

import torch
from gymnasium import spaces
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import Tensor

from memrl.memory import MemoryCore, make_core
from memrl.memory.base import compile_mode


class WindowMemoryExtractor(BaseFeaturesExtractor):
    """Runs a memory core over a ``HistoryWindow`` observation; features = last output.

    Args:
        observation_space: ``Box`` of shape ``(k, 1 + D)`` from ``HistoryWindow``.
        memory: registered core name or ``MemoryCore`` class.
        memory_kwargs: core constructor arguments (``input_size`` is ``D``).
        compile: compile the core's per-step function with torch.compile: ``False``
            (eager), ``True`` (mode ``"default"``) or a torch.compile mode name.
    """

    def __init__(
        self,
        observation_space: spaces.Box,
        memory: str | type[MemoryCore] = "lstm",
        memory_kwargs: dict[str, Any] | None = None,
        compile: bool | str = False,
    ) -> None:
        mode = compile_mode(compile)
        if not isinstance(observation_space, spaces.Box) or len(observation_space.shape) != 2:
            raise ValueError(
                "WindowMemoryExtractor needs the (k, 1 + D) Box observations of "
                f"memrl.envs.HistoryWindow, got {observation_space}"
            )
        core = make_core(memory, observation_space.shape[1] - 1, **(memory_kwargs or {}))
        if mode is not None:
            core.set_compile(mode)
        super().__init__(observation_space, core.output_size)
        self.core = core.eval()  # always: see train

    def train(self, mode: bool = True) -> WindowMemoryExtractor:
        """``nn.Module.train``, except that the core stays in eval mode whatever ``mode``."""
        # SB3 collects with the policy in eval mode (a core's hard reads are the argmax) and
        # updates in training mode, where those reads would be fresh Gumbel samples: the
        # update would score the stored actions under other reads than the ones that chose
        # them (PPO's ratio != 1 before any step). In eval mode hard reads are
        # straight-through (argmax values, softmax gradients): the update trains through the
        # reads that acted. The same fix as MemoryPPO.train.
        super().train(mode)
        self.core.train(False)
        return self

    def forward(self, observations: Tensor) -> Tensor:
        """``[B, k, 1 + D]`` -> ``[B, O]``: the core's output after the newest row."""
        window = observations.transpose(0, 1)  # [k, B, 1 + D]
        valid = window[..., 0] > 0.5
        # Padding comes first; starting the episode at the first real row makes the
        # state at that row the initial state, whatever the padding rows did to it.
        previous_valid = torch.cat([torch.zeros_like(valid[:1]), valid[:-1]])
        starts = (valid & ~previous_valid).float()
        state = self.core.initial_state(window.shape[1], window.device)
        y, _ = self.core(window[..., 1:], state, starts)
        return y[-1]
