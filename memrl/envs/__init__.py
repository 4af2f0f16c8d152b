"""Memory-demanding Gymnasium environments, registered under the ``memrl/`` namespace.

Registration uses entry-point strings, so importing this package is cheap: an
environment's module is imported the first time it is made.
"""

from __future__ import annotations

import gymnasium as gym

# id -> (entry point, default kwargs). Every env ends its episodes itself (no TimeLimit).
_ENVS: dict[str, tuple[str, dict]] = {
    "memrl/TMaze-v0": ("memrl.envs.tmaze:TMaze", {"corridor_length": 10}),
    "memrl/TMazeLong-v0": ("memrl.envs.tmaze:TMaze", {"corridor_length": 100}),
    "memrl/Copy-v0": ("memrl.envs.copy_task:Copy", {}),
    "memrl/CopyLong-v0": ("memrl.envs.copy_task:Copy", {"min_length": 9, "max_length": 16}),
    "memrl/RepeatCopy-v0": ("memrl.envs.repeat_copy:RepeatCopy", {}),
    "memrl/RepeatCopyLong-v0": (
        "memrl.envs.repeat_copy:RepeatCopy",
        {"min_length": 9, "max_length": 16},
    ),
    "memrl/AssociativeRecall-v0": ("memrl.envs.associative_recall:AssociativeRecall", {}),
    "memrl/AssociativeRecallLong-v0": (
        "memrl.envs.associative_recall:AssociativeRecall",
        {"min_length": 7, "max_length": 12},
    ),
    "memrl/PrioritySort-v0": ("memrl.envs.priority_sort:PrioritySort", {}),
    "memrl/PrioritySortLong-v0": (
        "memrl.envs.priority_sort:PrioritySort",
        {"bits": 8, "num_items": 20, "num_outputs": 16},
    ),
    "memrl/StoryQA-v0": ("memrl.envs.story_qa:StoryQA", {}),
    "memrl/GoalSearch-v0": ("memrl.envs.goal_search:GoalSearch", {}),
    "memrl/GoalSearch-5x5-v0": ("memrl.envs.goal_search:GoalSearch", {"size": 5}),
    "memrl/GoalSearch-13x13-v0": ("memrl.envs.goal_search:GoalSearch", {"size": 13}),
}


def _register() -> None:
    for env_id, (entry_point, kwargs) in _ENVS.items():
        if env_id not in gym.registry:
            gym.register(env_id, entry_point=entry_point, kwargs=kwargs)


def registered_ids() -> list[str]:
    """The ids this package registers."""
    return list(_ENVS)


_register()

# After registration: the factory resolves ids against the registry filled above.
from memrl.envs.factory import env_kind, make, make_vec  # noqa: E402
from memrl.envs.history import HistoryWindow  # noqa: E402
from memrl.envs.wrappers import (  # noqa: E402
    ActionSubset,
    FlattenObs,
    MiniGridObs,
    OneHotImage,
    POPGymObs,
    PreviousAction,
    apply_wrapper,
    apply_wrappers,
    make_popgym,
    register_wrapper,
    wrapper_names,
)

__all__ = [
    "ActionSubset",
    "FlattenObs",
    "HistoryWindow",
    "MiniGridObs",
    "OneHotImage",
    "POPGymObs",
    "PreviousAction",
    "apply_wrapper",
    "apply_wrappers",
    "env_kind",
    "make",
    "make_popgym",
    "make_vec",
    "register_wrapper",
    "registered_ids",
    "wrapper_names",
]
