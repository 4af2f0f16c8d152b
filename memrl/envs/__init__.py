"""Memory-demanding Gymnasium environments, registered under the ``memrl/`` namespace.

Registration uses entry-point strings, so importing this package is cheap: an
environment's module is imported the first time it is made.
"""

from __future__ import annotations

import gymnasium as gym

# id -> (entry point, default kwargs, max_episode_steps or None when the env ends itself)
_ENVS: dict[str, tuple[str, dict, int | None]] = {
    "memrl/TMaze-v0": ("memrl.envs.tmaze:TMaze", {"corridor_length": 10}, None),
    "memrl/TMazeLong-v0": ("memrl.envs.tmaze:TMaze", {"corridor_length": 100}, None),
    "memrl/Copy-v0": ("memrl.envs.copy_task:Copy", {}, None),
    "memrl/RepeatCopy-v0": ("memrl.envs.repeat_copy:RepeatCopy", {}, None),
    "memrl/AssociativeRecall-v0": (
        "memrl.envs.associative_recall:AssociativeRecall", {}, None),
    "memrl/GoalSearch-v0": ("memrl.envs.goal_search:GoalSearch", {}, None),
    "memrl/GoalSearch-5x5-v0": ("memrl.envs.goal_search:GoalSearch", {"size": 5}, None),
    "memrl/GoalSearch-13x13-v0": ("memrl.envs.goal_search:GoalSearch", {"size": 13}, None),
}


def _register() -> None:
    for env_id, (entry_point, kwargs, max_steps) in _ENVS.items():
        if env_id not in gym.registry:
            gym.register(env_id, entry_point=entry_point, kwargs=kwargs,
                         max_episode_steps=max_steps)


def registered_ids() -> list[str]:
    """The ids this package registers."""
    return list(_ENVS)


_register()

__all__ = ["registered_ids"]
