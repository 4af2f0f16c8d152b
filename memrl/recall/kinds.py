"""The kinds of recall a step's trace holds, and what ``RecallRecorder`` checks and sums.

``recall_kind`` tells ``"slots"``, ``"keys"`` or ``"none"`` (see ``memrl.recall.recorder``);
``check_trace`` and the ``host_*`` helpers validate the recorder's inputs;
``episode_summary`` turns one finished episode's per-step arrays into its ``recall_stats``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from torch import Tensor

from memrl.memory import Recall

__all__ = ["check_trace", "episode_summary", "host_array", "host_bools", "recall_kind"]


def recall_kind(trace: Recall | None) -> str:
    """``"slots"``, ``"keys"`` or ``"none"`` for a step's ``Recall`` (``"none"`` for ``None``)."""
    if trace is None:
        return "none"
    if trace.read_weights is not None:
        if trace.write_weights is None:
            raise ValueError("a Recall with read_weights needs write_weights too")
        return "slots"
    if trace.read_keys is not None:
        if trace.write_keys is None:
            raise ValueError("a Recall with read_keys needs write_keys too")
        return "keys"
    return "none"


def check_trace(trace: Recall | None, batch: int) -> None:
    """Batch size and head/slot layout of a trace, checked on shapes only (no device work)."""
    if trace is None:
        return
    for name in ("read_weights", "write_weights", "read_keys", "write_keys"):
        tensor = getattr(trace, name)
        if tensor is None:
            continue
        if tensor.dim() != 3 or tensor.shape[0] != batch:
            raise ValueError(
                f"trace {name} must have shape [B={batch}, heads, N or K] (the recorder was "
                f"made for n_envs={batch}), got {list(tensor.shape)}"
            )


def host_array(values: Any) -> np.ndarray:
    """A tensor, array or sequence as a numpy array (tensors leave the device)."""
    if isinstance(values, Tensor):
        return values.detach().cpu().numpy()
    return np.asarray(values)


def host_bools(values: Any, n: int, name: str) -> np.ndarray:
    """``[n]`` bools (one per env) from any array-like; ``ValueError`` naming ``name``."""
    array = host_array(values).astype(bool).reshape(-1)
    if array.shape[0] != n:
        raise ValueError(f"{name} must have shape [{n}] (one per env), got {array.shape}")
    return array


def episode_summary(kind: str | None, arrays: dict[str, np.ndarray]) -> dict[str, float | None]:
    """Episode statistics of the recall (None where they do not apply).

    ``arrays`` are the episode's per-step recorder outputs (``source_steps [T, R, k]``,
    ``read_weights [T, R, k]``, and for slot memories ``read_entropy`` and
    ``fresh_fraction [T, R]``).

    ``mean_age``: mean of ``t - source step`` over the valid top-k reads, weighted by read
    weight for slot memories (unweighted for MNM, whose weights are similarities);
    ``read_entropy``: mean entropy (nats) of the full read weightings; ``fresh_read_fraction``:
    mean read weight on slots written in this episode (per head, sums to at most 1).
    """
    summary: dict[str, float | None] = dict(
        mean_age=None, read_entropy=None, fresh_read_fraction=None
    )
    if kind not in ("slots", "keys"):
        return summary
    sources = arrays["source_steps"]
    valid = sources >= 0
    if valid.any():
        age = np.arange(sources.shape[0]).reshape(-1, 1, 1) - sources
        weight = arrays["read_weights"] * valid if kind == "slots" else valid.astype(float)
        if weight.sum() > 0:
            summary["mean_age"] = float((age * weight).sum() / weight.sum())
    if kind == "slots" and arrays["read_entropy"].size:
        summary["read_entropy"] = float(arrays["read_entropy"].mean())
        summary["fresh_read_fraction"] = float(arrays["fresh_fraction"].mean())
    return summary
