"""sb3-contrib's RecurrentPPO, the LSTM reference of the benchmarks, with its rollout samples'
actions handed back as float32, as SB3's own rollout buffers hand them back.

SB3 (from 2.7) stores a rollout's actions in the action space's dtype and casts them to
float32 when it samples them (DLR-RM/stable-baselines3 pull request 2163). sb3-contrib's
recurrent buffers pad and return them uncast, so the int8 actions of a ``MultiBinary``
space (memrl/AssociativeRecall-v0, memrl/Copy-v0) reach the Bernoulli log-probability as
integers and the first update fails with "result type Float can't be cast to the desired
output type Char". Importing this module needs sb3-contrib (``pip install 'memrl[bench]'``).
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
from sb3_contrib import RecurrentPPO
from sb3_contrib.common.recurrent.buffers import RecurrentDictRolloutBuffer, RecurrentRolloutBuffer
from sb3_contrib.common.recurrent.type_aliases import (
    RecurrentDictRolloutBufferSamples,
    RecurrentRolloutBufferSamples,
)
from stable_baselines3.common.vec_env import VecNormalize

__all__ = ["FloatActionDictRolloutBuffer", "FloatActionRolloutBuffer", "ReferenceRecurrentPPO"]

Samples = TypeVar("Samples", RecurrentRolloutBufferSamples, RecurrentDictRolloutBufferSamples)


def _float_actions(samples: Samples) -> Samples:
    return samples._replace(actions=samples.actions.float())


class FloatActionRolloutBuffer(RecurrentRolloutBuffer):
    """``RecurrentRolloutBuffer`` whose samples hold float32 actions ``[batch, action_dim]``."""

    def _get_samples(
        self, batch_inds: np.ndarray, env_change: np.ndarray, env: VecNormalize | None = None
    ) -> RecurrentRolloutBufferSamples:
        return _float_actions(super()._get_samples(batch_inds, env_change, env))


class FloatActionDictRolloutBuffer(RecurrentDictRolloutBuffer):
    """``RecurrentDictRolloutBuffer`` whose samples hold float32 actions ``[batch, action_dim]``."""

    def _get_samples(
        self, batch_inds: np.ndarray, env_change: np.ndarray, env: VecNormalize | None = None
    ) -> RecurrentDictRolloutBufferSamples:
        return _float_actions(super()._get_samples(batch_inds, env_change, env))


class ReferenceRecurrentPPO(RecurrentPPO):
    """``RecurrentPPO`` training from float32 actions; otherwise sb3-contrib's algorithm.

    Its archives are ``RecurrentPPO``'s (the buffer is not saved): either class loads the
    other's.
    """

    def _setup_model(self) -> None:
        # RecurrentPPO picks its buffer class inside _setup_model and takes no
        # rollout_buffer_class, so the buffer it made is replaced by the same one that casts.
        super()._setup_model()
        made = self.rollout_buffer
        buffer_class = (
            FloatActionDictRolloutBuffer
            if isinstance(made, RecurrentDictRolloutBuffer)
            else FloatActionRolloutBuffer
        )
        self.rollout_buffer = buffer_class(
            made.buffer_size,
            made.observation_space,
            made.action_space,
            made.hidden_state_shape,
            made.device,
            gamma=made.gamma,
            gae_lambda=made.gae_lambda,
            n_envs=made.n_envs,
        )
