"""A step's read trace, and the statistics of memory access computed from it.

The one definition of read entropy and of "slots in use", shared by MemoryPPO's
``memory/`` training logs and the recall recorder's per-episode summaries.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from memrl.memory.base import Recall

__all__ = ["IN_USE_THRESHOLD", "core_trace", "read_entropy", "read_statistics", "slots_in_use"]

# A DNC slot whose usage exceeds this counts as in use.
IN_USE_THRESHOLD = 0.5


def core_trace(core: Any, state: Any) -> Recall | None:
    """``core.read_trace(state)``, or ``None`` when the core has no ``read_trace``.

    ``None`` (also when ``read_trace`` itself returns it) means the step recorded nothing.
    """
    read_trace = getattr(core, "read_trace", None)
    return None if read_trace is None else read_trace(state)


def read_entropy(weights: Tensor) -> Tensor:
    """Entropy (nats) of read weightings ``[..., N]`` over the last dim: ``[...]``."""
    return -(weights * torch.log(weights.clamp_min(1e-12))).sum(-1)


def slots_in_use(usage: Tensor) -> Tensor:
    """Fraction of slots with usage above ``IN_USE_THRESHOLD``: ``[B, N]`` -> ``[B]``
    (in ``usage``'s dtype)."""
    return (usage > IN_USE_THRESHOLD).to(usage.dtype).mean(-1)


def read_statistics(trace: Recall | None) -> dict[str, Tensor]:
    """Scalar tensors describing one step's memory access, averaged over the batch.

    ``read_entropy``: mean entropy (nats) of the read weightings; ``slots_in_use``: mean
    fraction of slots in use (DNC); ``write_rate``: mean write rate (MNM). Only the entries
    the trace supports; none for a ``None`` trace.
    """
    if trace is None:
        return {}
    stats: dict[str, Tensor] = {}
    if trace.read_weights is not None:
        stats["read_entropy"] = read_entropy(trace.read_weights).mean()
    if trace.usage is not None:
        stats["slots_in_use"] = slots_in_use(trace.usage).mean()
    if trace.write_strengths is not None:
        stats["write_rate"] = trace.write_strengths.mean()
    return stats
