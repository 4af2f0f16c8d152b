"""Memory cores: pure PyTorch, no RL. See ``memrl.memory.base`` for the contract."""

from memrl.memory import addressing
from memrl.memory.base import (
    MemoryCore,
    Recall,
    cat_states,
    detach,
    index_state,
    map_state,
    reset_where,
    state_to,
)
from memrl.memory.registry import core_class, core_names, make_core, register_core
from memrl.memory.rnn import GRUCore, LSTMCore

__all__ = [
    "GRUCore",
    "LSTMCore",
    "MemoryCore",
    "Recall",
    "addressing",
    "cat_states",
    "core_class",
    "core_names",
    "detach",
    "index_state",
    "make_core",
    "map_state",
    "register_core",
    "reset_where",
    "state_to",
]
