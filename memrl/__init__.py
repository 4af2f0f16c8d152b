"""memrl: reinforcement-learning agents with external memory.

Importing ``memrl`` registers the ``memrl/...`` Gymnasium environments and the
built-in memory cores.
"""

from memrl import envs, memory
from memrl.memory import MemoryCore, Recall, core_names, make_core, register_core

__version__ = "0.1.0"

__all__ = [
    "MemoryCore",
    "Recall",
    "__version__",
    "core_names",
    "envs",
    "make_core",
    "memory",
    "register_core",
]
