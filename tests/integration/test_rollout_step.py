"""MemoryPPO's RolloutStep: what callbacks see of each collection step, and RecallCallback on it.

A stub core encodes the episode step index in its read trace (it writes slot ``t mod N`` at
step t and reads the slot written ``DELAY`` steps earlier), so the source step of every
read is known in advance.
"""

from __future__ import annotations

from itertools import pairwise
from typing import NamedTuple

import numpy as np
import torch
from stable_baselines3.common.callbacks import BaseCallback, CallbackList
from stable_baselines3.common.logger import KVWriter, Logger
from torch import Tensor, nn
from torch.nn import functional as F

from memrl.envs import make_vec
from memrl.memory import MemoryCore, Recall
from memrl.recall import (
    EpisodeRecord,
    RecallCallback,
    RecallRecorder,
    load_episode,
    record_episodes,
)
from memrl.sb3 import MemoryPPO, RolloutStep

SLOTS = 4
DELAY = 2
N_ENVS = 2
N_STEPS = 16


class _StepState(NamedTuple):
    steps: Tensor  # [B] steps taken in the episode (float, so reset_where can select it)


class StepIndexCore(MemoryCore):
    """Writes slot ``t mod SLOTS`` at episode step t and reads slot ``(t - DELAY) mod SLOTS``."""

    def __init__(self, input_size: int, hidden_size: int = 8) -> None:
        super().__init__()
        self.input_size, self.output_size = input_size, hidden_size
        self.linear = nn.Linear(input_size, hidden_size)
        self.trace_calls = 0

    def initial_state(self, batch_size, device=None):
        weight = self.linear.weight
        return _StepState(
            torch.zeros(batch_size, device=device or weight.device, dtype=weight.dtype)
        )

    def step(self, x, state):
        return torch.tanh(self.linear(x)), _StepState(state.steps + 1)

    def read_trace(self, state) -> Recall | None:
        self.trace_calls += 1
        t = state.steps.long() - 1  # the step that produced this state
        return Recall(
            read_weights=F.one_hot((t - DELAY) % SLOTS, SLOTS).float()[:, None],  # [B, 1, N]
            write_weights=F.one_hot(t % SLOTS, SLOTS).float()[:, None],  # [B, 1, N]
        )


class NoTraceCore(StepIndexCore):
    """A core that records nothing: ``read_trace`` returns None."""

    def read_trace(self, state) -> Recall | None:
        return None


class KeysWriter(KVWriter):
    """Collects every logged key."""

    def __init__(self) -> None:
        self.keys: set[str] = set()

    def write(self, key_values, key_excluded, step=0) -> None:
        self.keys.update(key_values)

    def close(self) -> None:
        pass


class StepCapture(BaseCallback):
    """Keeps every RolloutStep of env ``env_index``, sliced to batch 1 and copied."""

    def __init__(self, env_index: int) -> None:
        super().__init__()
        self.env_index = env_index
        self.steps: list[dict] = []

    def _on_step(self) -> bool:
        step = self.locals["rollout_step"]
        assert isinstance(step, RolloutStep)
        i = slice(self.env_index, self.env_index + 1)
        trace = step.trace
        self.steps.append(
            dict(
                trace=None
                if trace is None
                else Recall(
                    read_weights=trace.read_weights[i], write_weights=trace.write_weights[i]
                ),
                episode_starts=step.episode_starts[i].copy(),
                actions=step.actions[i].copy(),
                rewards=step.rewards[i].copy(),
                dones=step.dones[i].copy(),
            )
        )
        return True


def tiny_model(memory: type[MemoryCore]) -> MemoryPPO:
    env = make_vec("memrl/TMaze-v0", n_envs=N_ENVS, seed=0, corridor_length=2)
    return MemoryPPO(
        "MlpMemoryPolicy",
        env,
        n_steps=N_STEPS,
        batch_size=N_STEPS * N_ENVS,
        n_epochs=1,
        seed=0,
        device="cpu",
        policy_kwargs=dict(memory=memory),
    )


def direct_records(steps: list[dict]) -> list[EpisodeRecord]:
    """The same env's steps fed straight to a RecallRecorder."""
    recorder = RecallRecorder(n_envs=1, top_k=2)
    records: list[EpisodeRecord] = []
    for step in steps:
        records += recorder.step(
            step["trace"],
            step["episode_starts"],
            actions=step["actions"],
            rewards=step["rewards"],
            dones=step["dones"],
        )
    return records


def saved_records(callback: RecallCallback) -> list[EpisodeRecord]:
    paths = sorted(callback.saved, key=lambda p: int(p.stem.removeprefix("ep_")))
    return [load_episode(path) for path in paths]


def test_rollout_step_fields_and_one_trace_per_step():
    model = tiny_model(StepIndexCore)
    seen: list[RolloutStep] = []

    class Keep(BaseCallback):
        def _on_step(self) -> bool:
            seen.append(self.locals["rollout_step"])
            return True

    model.learn(N_STEPS * N_ENVS * 2, callback=CallbackList([Keep(), RecallCallback(every=0)]))
    assert model.policy.core.trace_calls == len(seen) == 2 * N_STEPS  # the callback reuses it
    assert seen[0].episode_starts.all()
    for step, following in pairwise(seen):
        assert step.episode_starts.shape == step.dones.shape == step.rewards.shape == (N_ENVS,)
        assert step.episode_starts.dtype == step.dones.dtype == np.bool_
        assert isinstance(step.actions, np.ndarray) and len(step.actions) == N_ENVS
        assert len(step.infos) == N_ENVS
        assert step.trace is not None and step.trace.read_weights.shape == (N_ENVS, 1, SLOTS)
        np.testing.assert_array_equal(following.episode_starts, step.dones)
        # the state is the one after the step: a step that began an episode is its first
        np.testing.assert_array_equal(step.state.steps.numpy()[step.episode_starts], 1.0)


def test_callback_records_what_a_recorder_fed_directly_records(tmp_path):
    env_index = 1
    model = tiny_model(StepIndexCore)
    capture = StepCapture(env_index)
    callback = RecallCallback(
        top_k=2, every=0, out_dir=tmp_path, env_index=env_index, max_records=None
    )
    model.learn(N_STEPS * N_ENVS * 3, callback=CallbackList([capture, callback]))

    recorded, direct = saved_records(callback), direct_records(capture.steps)
    assert len(recorded) >= 2 and len(recorded) == len(direct)
    assert any(record.length > SLOTS for record in recorded), "the test needs slot reuse"
    for got, want in zip(recorded, direct, strict=True):
        for name in ("source_steps", "read_slots", "read_weights", "write_slots", "actions"):
            np.testing.assert_array_equal(getattr(got, name), getattr(want, name), err_msg=name)
        np.testing.assert_allclose(got.rewards, want.rewards)
        # and both are the source steps the core encoded: step t reads step t - DELAY
        t = np.arange(got.length)
        np.testing.assert_array_equal(
            got.source_steps[:, 0, 0], np.where(t >= DELAY, t - DELAY, -1)
        )
        np.testing.assert_array_equal(got.read_slots[:, 0, 0], (t - DELAY) % SLOTS)
        np.testing.assert_array_equal(got.write_slots[:, 0], t % SLOTS)
        assert (got.source_steps[:, 0, 1] == -1).all()  # one-hot reads: the rest is padding


def test_core_without_trace_trains_and_records_no_recall():
    model = tiny_model(NoTraceCore)
    writer = KeysWriter()
    model.set_logger(Logger(folder=None, output_formats=[writer]))
    callback = RecallCallback(top_k=2, every=0)
    model.learn(N_STEPS * N_ENVS * 2, callback=callback)

    record = callback.last_record
    assert record is not None and record.metadata["recall_kind"] == "none"
    assert record.read_slots.shape == (record.length, 0, 0)
    assert np.isnan(record.slots_in_use).all()
    assert not any(key.startswith("memory/") for key in writer.keys)
    assert "recall/episode_length" in writer.keys

    (after,) = record_episodes(model, "memrl/TMaze-v0", n=1, top_k=2, seed=0)
    assert after.metadata["recall_kind"] == "none" and after.source_steps.shape[1:] == (0, 0)
