"""Recall during training (RecallCallback) and after it (record_episodes), with tiny cores."""

from __future__ import annotations

import numpy as np
import pytest
from core_sizes import TINY_TWO_READS as TINY
from stable_baselines3.common.logger import KVWriter, Logger

from memrl.envs import make, make_vec
from memrl.memory.registry import accepted_kwargs
from memrl.recall import RecallCallback, load_episode, record_episodes
from memrl.sb3 import MemoryPPO

TMAZE = dict(corridor_length=3)


def tiny_model(memory: str, n_envs: int = 2) -> MemoryPPO:
    memory_kwargs = accepted_kwargs(memory, TINY)
    env = make_vec("memrl/TMaze-v0", n_envs=n_envs, seed=0, **TMAZE)
    return MemoryPPO(
        "MlpMemoryPolicy",
        env,
        n_steps=16,
        batch_size=16 * n_envs,
        n_epochs=1,
        seed=0,
        device="cpu",
        policy_kwargs=dict(memory=memory, memory_kwargs=memory_kwargs),
    )


class KeysWriter(KVWriter):
    """Collects every logged key and value."""

    def __init__(self) -> None:
        self.values: dict[str, list[float]] = {}

    def write(self, key_values, key_excluded, step=0) -> None:
        for key, value in key_values.items():
            self.values.setdefault(key, []).append(value)

    def close(self) -> None:
        pass


def test_callback_writes_records_and_logs(tmp_path):
    model = tiny_model("dnc")
    writer = KeysWriter()
    model.set_logger(Logger(folder=None, output_formats=[writer]))
    callback = RecallCallback(top_k=3, every=0, out_dir=tmp_path / "recall", env_index=1)
    model.learn(192, callback=callback)

    files = sorted((tmp_path / "recall").glob("ep_*.npz"))
    assert files and files == sorted(callback.saved)
    for path in files:
        record = load_episode(path)
        assert record.metadata["core"] == "dnc" and record.metadata["env_index"] == 1
        assert record.metadata["env_id"] == "memrl/TMaze-v0"
        assert record.metadata["num_timesteps"] == int(path.stem.removeprefix("ep_"))
        assert record.read_slots.shape == (record.length, 2, 3)
        # a TMaze episode ends with the agent at an arm: its length is at least the corridor
        assert record.length >= TMAZE["corridor_length"]
        assert not np.isnan(record.slots_in_use).any()  # DNC reports usage
    for key in ("recall/mean_age", "recall/read_entropy", "recall/fresh_read_fraction"):
        assert key in writer.values, key
        assert all(np.isfinite(writer.values[key]))
    assert all(v >= 0 for v in writer.values["recall/mean_age"])
    assert all(0 <= v <= 1 + 1e-6 for v in writer.values["recall/fresh_read_fraction"])
    assert list(tmp_path.glob("recall/.*")) == []  # no temporary files


def test_callback_spacing_and_max_records(tmp_path):
    model = tiny_model("ntm")
    model.set_logger(Logger(folder=None, output_formats=[]))
    every_all = RecallCallback(top_k=2, every=0, out_dir=tmp_path / "all", max_records=2)
    model.learn(256, callback=every_all)
    assert len(list((tmp_path / "all").glob("ep_*.npz"))) == 2  # older ones were rotated out
    assert every_all.saved[-1].exists()

    sparse = RecallCallback(top_k=2, every=10_000, out_dir=tmp_path / "sparse")
    model.learn(256, callback=sparse)
    assert len(list((tmp_path / "sparse").glob("ep_*.npz"))) == 1  # only the first is due


def test_callback_without_out_dir_keeps_last_record():
    model = tiny_model("memnet")
    model.set_logger(Logger(folder=None, output_formats=[]))
    callback = RecallCallback(top_k=2, every=0)
    model.learn(128, callback=callback)
    assert callback.saved == [] and callback.last_record is not None
    assert callback.last_record.metadata["recall_kind"] == "slots"


def test_callback_rejects_bad_arguments():
    with pytest.raises(ValueError, match="every"):
        RecallCallback(every=-1)
    with pytest.raises(ValueError, match="top_k"):
        RecallCallback(top_k=0)
    model = tiny_model("lstm", n_envs=1)
    with pytest.raises(ValueError, match="env_index=3"):
        model.learn(16, callback=RecallCallback(env_index=3))


@pytest.mark.parametrize(
    ("memory", "kind"),
    [("dnc", "slots"), ("ntm", "slots"), ("memnet", "slots"), ("mnm", "keys"), ("lstm", "none")],
)
def test_record_episodes(memory, kind, tmp_path):
    model = tiny_model(memory)
    records = record_episodes(model, "memrl/TMaze-v0", n=2, top_k=3, frames=True, seed=0)
    assert len(records) == 2
    for index, record in enumerate(records):
        assert record.metadata["recall_kind"] == kind
        assert record.metadata["episode"] == index and record.metadata["core"] == memory
        assert record.frames is not None and record.frames.shape[0] == record.length
        assert record.frames.dtype == np.uint8 and record.frames.shape[-1] == 3
        assert record.has_recall == (kind != "none")
        assert record.metadata["episode_return"] == pytest.approx(float(record.rewards.sum()))
        loaded = load_episode(record.save(tmp_path / f"{memory}_{index}.npz"))
        np.testing.assert_array_equal(loaded.source_steps, record.source_steps)
    # the same seed gives the same episodes
    again = record_episodes(model, "memrl/TMaze-v0", n=1, top_k=3, seed=0)
    np.testing.assert_array_equal(again[0].actions, records[0].actions)
    np.testing.assert_array_equal(again[0].source_steps, records[0].source_steps)
    assert again[0].frames is None


def test_record_episodes_needs_rgb_frames():
    model = tiny_model("lstm")
    env = make("memrl/TMaze-v0", **TMAZE)
    with pytest.raises(ValueError, match="rgb_array"):
        record_episodes(model, env, n=1, frames=True)
    with pytest.raises(ValueError, match="n"):
        record_episodes(model, env, n=0)
