"""Both forms of a user core (``step`` or ``forward``) in MemoryPPO and in SB3's PPO through
WindowMemoryExtractor; and hard (Gumbel) reads in the extractor: SB3's update recomputes the
reads the rollout acted with."""

from __future__ import annotations

from typing import NamedTuple

import gymnasium as gym
import numpy as np
import pytest
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.env_util import make_vec_env
from torch import Tensor, nn

from memrl.envs import HistoryWindow, make_vec
from memrl.memory import MemoryCore
from memrl.sb3 import MemoryPPO, WindowMemoryExtractor


class TraceState(NamedTuple):
    trace: Tensor


class _Trace(MemoryCore):
    """An exponentially decaying trace of ``tanh(mix(x))``; each subclass adds one form."""

    def __init__(self, input_size: int, decay: float = 0.8) -> None:
        super().__init__()
        self.input_size = self.output_size = input_size
        self.decay = decay
        self.mix = nn.Linear(input_size, input_size)

    def initial_state(self, batch_size: int, device=None) -> TraceState:
        weight = self.mix.weight
        return TraceState(torch.zeros(batch_size, self.input_size, device=device or weight.device))


class StepTrace(_Trace):
    def step(self, x: Tensor, state: TraceState) -> tuple[Tensor, TraceState]:
        trace = self.decay * state.trace + torch.tanh(self.mix(x))
        return trace, TraceState(trace)


class SequenceTrace(_Trace):
    """The input projection runs once over the whole sequence; only the decay steps."""

    def forward(self, x: Tensor, state: TraceState, episode_starts: Tensor | None = None):
        self.check_sequence(x, episode_starts)
        inputs = torch.tanh(self.mix(x))  # [T, B, F]
        keep = x.new_ones(x.shape[:2]) if episode_starts is None else 1 - episode_starts
        trace, outputs = state.trace, []
        for input_t, keep_t in zip(inputs, keep, strict=True):
            trace = self.decay * keep_t[:, None] * trace + input_t
            outputs.append(trace)
        return torch.stack(outputs), TraceState(trace)


FORMS = [StepTrace, SequenceTrace]


def assert_same_policy(model, loaded, env, steps: int = 6) -> None:
    """Same action probabilities and states, step by step, from a fresh start."""
    obs = env.reset()
    states = [None, None]
    starts = np.ones(env.num_envs, dtype=bool)
    for _ in range(steps):
        probs = []
        for i, m in enumerate((model, loaded)):
            obs_tensor, _ = m.policy.obs_to_tensor(obs)
            start_tensor = torch.as_tensor(starts, dtype=torch.float32)
            with torch.no_grad():
                if isinstance(m, MemoryPPO):
                    state = states[i] or m.policy.initial_state(env.num_envs)
                    dist, states[i] = m.policy.get_distribution(obs_tensor, state, start_tensor)
                else:
                    dist = m.policy.get_distribution(obs_tensor)
            probs.append(dist.distribution.probs)
        torch.testing.assert_close(probs[0], probs[1])
        if isinstance(model, MemoryPPO):
            for a, b in zip(states[0], states[1], strict=True):
                torch.testing.assert_close(a, b)
        obs, _, dones, _ = env.step(probs[0].argmax(-1).numpy())
        starts = dones


def changed_parameters(model, before: list[Tensor]) -> bool:
    return any(
        not torch.equal(a, b) for a, b in zip(before, model.policy.parameters(), strict=True)
    )


@pytest.mark.parametrize("cls", FORMS, ids=lambda cls: cls.__name__)
def test_both_forms_train_in_memory_ppo_and_round_trip(cls, tmp_path):
    env = make_vec("memrl/TMaze-v0", n_envs=2, seed=0, corridor_length=2)
    model = MemoryPPO(
        "MlpMemoryPolicy",
        env,
        n_steps=16,
        batch_size=16,
        n_epochs=1,
        seq_len=8,
        seed=0,
        device="cpu",
        policy_kwargs=dict(memory=cls, memory_kwargs=dict(decay=0.5)),
    )
    assert model.policy.core.decay == 0.5
    before = [p.detach().clone() for p in model.policy.parameters()]
    model.learn(16 * 2 * 2)  # two rollouts, two updates
    assert changed_parameters(model, before)
    model.save(tmp_path / "model.zip")
    loaded = MemoryPPO.load(tmp_path / "model.zip", device="cpu")
    assert type(loaded.policy.core) is cls
    assert_same_policy(model, loaded, env)


def window_env(k: int = 5):
    return HistoryWindow(gym.make("memrl/TMaze-v0", corridor_length=2), k=k)


def window_ppo(env, memory, memory_kwargs: dict) -> PPO:
    return PPO(
        "MlpPolicy",
        env,
        n_steps=16,
        batch_size=32,
        n_epochs=1,
        seed=0,
        device="cpu",
        policy_kwargs=dict(
            features_extractor_class=WindowMemoryExtractor,
            features_extractor_kwargs=dict(memory=memory, memory_kwargs=memory_kwargs),
        ),
    )


@pytest.mark.parametrize("cls", FORMS, ids=lambda cls: cls.__name__)
def test_both_forms_train_in_the_window_extractor_and_round_trip(cls, tmp_path):
    env = make_vec_env(window_env, n_envs=2, seed=0)
    model = window_ppo(env, cls, {})
    before = [p.detach().clone() for p in model.policy.parameters()]
    model.learn(16 * 2 * 2)
    assert changed_parameters(model, before)
    model.save(tmp_path / "model.zip")
    loaded = PPO.load(tmp_path / "model.zip", device="cpu")
    assert type(loaded.policy.features_extractor.core) is cls
    assert_same_policy(model, loaded, env)


@pytest.mark.parametrize(
    ("memory", "sizes"),
    [
        ("ntm", dict(memory_slots=8, slot_size=8, controller_size=16)),
        ("memnet", dict(memory_slots=8, key_size=8)),
    ],
)
def test_window_extractor_update_starts_from_the_rollout_log_probs_with_gumbel_reads(memory, sizes):
    """SB3's PPO acts in eval mode (argmax reads) and updates in training mode: the first
    update must still score the rollout's actions under the reads they were taken with."""
    env = make_vec_env(window_env, n_envs=2, seed=0)
    model = window_ppo(env, memory, {**sizes, "read_addressing": "gumbel"})
    policy = model.policy
    first: dict[str, Tensor] = {}
    evaluate, get = policy.evaluate_actions, model.rollout_buffer.get

    def evaluate_spy(obs, actions):
        result = evaluate(obs, actions)
        if "log_prob" not in first:
            first["log_prob"] = result[1].detach().clone()
            first["policy_training"] = policy.training
            first["core_training"] = policy.features_extractor.core.training
        return result

    def get_spy(*args, **kwargs):
        for batch in get(*args, **kwargs):
            first.setdefault("old_log_prob", batch.old_log_prob.clone())
            yield batch

    policy.evaluate_actions = evaluate_spy
    model.rollout_buffer.get = get_spy
    model.learn(16 * 2)  # one rollout, one update of one minibatch
    assert first["policy_training"] and not first["core_training"]
    torch.testing.assert_close(first["log_prob"], first["old_log_prob"], atol=1e-5, rtol=1e-5)
