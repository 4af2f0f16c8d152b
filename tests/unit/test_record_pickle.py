"""A recall record that would need pickle is refused, and nothing in it is unpickled."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from memrl.recall import RecordError, load_episode


class Trap:
    """Unpickling this would run code: it must never be unpickled."""

    def __reduce__(self):
        return (pytest.fail, ("a record was unpickled",))


@pytest.mark.parametrize("name", ["memrl_record", "actions", "frames"])
def test_a_record_needing_pickle_is_refused_unopened(tmp_path, monkeypatch, name):
    steps = 3
    arrays = {
        "memrl_record": np.frombuffer(
            b'{"format": "memrl.episode_record", "schema_version": 1, "metadata": {}}',
            dtype=np.uint8,
        ),
        "actions": np.zeros(steps, dtype=np.int64),
        "rewards": np.zeros(steps, dtype=np.float32),
        "read_slots": np.zeros((steps, 1, 1), dtype=np.int32),
        "read_weights": np.zeros((steps, 1, 1), dtype=np.float32),
        "source_steps": np.zeros((steps, 1, 1), dtype=np.int32),
        "write_slots": np.zeros((steps, 1), dtype=np.int32),
        "slots_in_use": np.zeros(steps, dtype=np.float32),
    }
    arrays[name] = np.array([Trap()] * steps, dtype=object)
    path = tmp_path / "trap.npz"
    np.savez(path, **arrays)
    monkeypatch.setattr(pickle, "load", lambda *a, **k: pytest.fail("pickle.load called"))
    with pytest.raises(RecordError, match=rf"trap\.npz: refused: array '{name}' holds Python"):
        load_episode(path)
