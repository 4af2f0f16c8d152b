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
from memrl.memory.dnc import DNC, DNCState
from memrl.memory.memnet import MemNet, MemNetState
from memrl.memory.mnm import MNM, MNMState
from memrl.memory.ntm import NTM, NTMState
from memrl.memory.registry import (
    accepted_kwargs,
    core_class,
    core_names,
    make_core,
    register_core,
)
from memrl.memory.rnn import GRUCore, LSTMCore
from memrl.memory.schedules import gumbel_temperature, set_gumbel_tau
from memrl.memory.trace_stats import (
    IN_USE_THRESHOLD,
    core_trace,
    read_entropy,
    read_statistics,
    slots_in_use,
)

__all__ = [
    "DNC",
    "IN_USE_THRESHOLD",
    "MNM",
    "NTM",
    "DNCState",
    "GRUCore",
    "LSTMCore",
    "MNMState",
    "MemNet",
    "MemNetState",
    "MemoryCore",
    "NTMState",
    "Recall",
    "accepted_kwargs",
    "addressing",
    "cat_states",
    "core_class",
    "core_names",
    "core_trace",
    "detach",
    "gumbel_temperature",
    "index_state",
    "make_core",
    "map_state",
    "read_entropy",
    "read_statistics",
    "register_core",
    "reset_where",
    "set_gumbel_tau",
    "slots_in_use",
    "state_to",
]
