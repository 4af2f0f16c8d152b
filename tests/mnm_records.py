"""Hand-built MNM episode records of a StoryQA story, shared by the write-similarity tests
(the formula, the still PNG, the HTML page and the headless browser)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from memrl.recall import EpisodeRecord

WORDS = "mary went to the garden . john moved to the hallway . where is mary ?".split()


def random_writes(length: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Write keys ``[T, 1, 4]`` and values ``[T, 1, 3]`` drawn from a normal, stored as float16
    as the recorder stores them."""
    rng = np.random.default_rng(seed)
    keys = rng.normal(size=(length, 1, 4)).astype(np.float16)
    return keys, rng.normal(size=(length, 1, 3)).astype(np.float16)


def mnm_record(
    length: int,
    writes: tuple[np.ndarray, np.ndarray] | None = None,
    labels: Sequence[str] | None = None,
    frames: np.ndarray | None = None,
) -> EpisodeRecord:
    """An MNM record of ``length`` steps in which step t recalls step t // 2 (weight 0.9),
    with the given write keys and values ``[T, Wh, K]``, ``[T, Wh, V]`` and step labels."""
    sources = (np.arange(length) // 2).reshape(-1, 1, 1).astype(np.int32)
    keys, values = (None, None) if writes is None else writes
    return EpisodeRecord(
        actions=np.zeros(length, dtype=np.int64),
        rewards=np.zeros(length, dtype=np.float32),
        read_slots=sources,
        read_weights=np.full((length, 1, 1), 0.9, dtype=np.float32),
        source_steps=sources,
        write_slots=np.arange(length, dtype=np.int32)[:, None],
        slots_in_use=np.full(length, np.nan, dtype=np.float32),
        frames=frames,
        metadata={"core": "mnm", "env_id": "memrl/StoryQA-v0", "recall_kind": "keys"},
        write_keys=None if keys is None else np.asarray(keys),
        write_values=None if values is None else np.asarray(values),
        labels=None if labels is None else np.array(labels, dtype=str),
    )
