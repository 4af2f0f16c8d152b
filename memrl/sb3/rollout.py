"""``RolloutStep``: what one step of ``MemoryPPO.collect_rollouts`` hands to callbacks.

A callback reads it as ``self.locals["rollout_step"]`` in ``_on_step``; this is the public
way to observe the rollout. The other entries of ``self.locals`` are the loop's local
variables, passed on for SB3's own callbacks (e.g. ``StopTrainingOnMaxEpisodes`` reads
``dones``); their names are not part of memrl's API.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from memrl.memory import Recall

__all__ = ["RolloutStep"]


@dataclass(frozen=True)
class RolloutStep:
    """One environment step of every env of the rollout, built right after ``env.step``.

    Attributes:
        state: the policy state after the step (batch ``n_envs``, on the policy's device).
        trace: the actor core's ``Recall`` for the step (``core.read_trace`` of the actor
            part of ``state``), or ``None`` when the core records none.
        episode_starts: ``[n_envs]`` bool: true where this step began an episode (the
            state was reset before it).
        actions: ``[n_envs, ...]`` the actions as sent to ``env.step`` (Box actions clipped).
        rewards: ``[n_envs]`` the rewards as returned by ``env.step`` (before the bootstrap
            of truncated episodes).
        dones: ``[n_envs]`` bool: true where the episode ended with this step.
        infos: the ``env.step`` info dicts, one per env.
    """

    state: tuple
    trace: Recall | None
    episode_starts: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    dones: np.ndarray
    infos: list[dict[str, Any]]
