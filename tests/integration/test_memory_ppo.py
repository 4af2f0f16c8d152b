"""MemoryPPO inside SB3: every core, several observation and action spaces, buffer exactness."""

from __future__ import annotations

from typing import NamedTuple

import gymnasium as gym
import numpy as np
import pytest
import torch
from core_sizes import TINY
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.envs import (
    IdentityEnv,
    IdentityEnvBox,
    IdentityEnvMultiBinary,
    IdentityEnvMultiDiscrete,
)
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.logger import KVWriter, Logger
from stable_baselines3.common.policies import ActorCriticPolicy
from torch import Tensor

from memrl.envs import make_vec
from memrl.memory import MemoryCore, core_names, index_state, register_core
from memrl.memory.registry import accepted_kwargs
from memrl.sb3 import ActorCriticState, MemoryActorCriticPolicy, MemoryPPO


def tiny_kwargs(name: str) -> dict:
    return accepted_kwargs(name, TINY)


def tiny_ppo(env, memory="lstm", **overrides) -> MemoryPPO:
    kwargs = dict(n_steps=16, batch_size=32, n_epochs=2, seed=0, device="cpu")
    policy_kwargs = dict(
        memory=memory, memory_kwargs=tiny_kwargs(memory) if isinstance(memory, str) else {}
    )
    policy_kwargs.update(overrides.pop("policy_kwargs", {}))
    kwargs.update(overrides)
    return MemoryPPO("MlpMemoryPolicy", env, policy_kwargs=policy_kwargs, **kwargs)


@pytest.mark.parametrize("memory", core_names())
@pytest.mark.parametrize(
    ("env_id", "env_kwargs"),
    [
        ("memrl/TMaze-v0", {"corridor_length": 3}),
        ("MiniGrid-MemoryS7-v0", {"view_size": 3}),
        ("popgym-RepeatPreviousEasy-v0", {}),
    ],
    ids=["tmaze", "minigrid-dict", "popgym"],
)
def test_every_core_trains_on_each_kind_of_env(memory, env_id, env_kwargs):
    env = make_vec(env_id, n_envs=2, seed=0, **env_kwargs)
    model = tiny_ppo(env, memory)
    model.learn(64)
    assert model.num_timesteps >= 64
    assert all(torch.isfinite(p).all() for p in model.policy.parameters())


@pytest.mark.parametrize(
    "make_env",
    [
        lambda: IdentityEnv(4),
        IdentityEnvBox,
        lambda: IdentityEnvMultiBinary(3),
        lambda: IdentityEnvMultiDiscrete(3),
    ],
    ids=["discrete", "box", "multibinary", "multidiscrete"],
)
def test_action_spaces(make_env):
    model = tiny_ppo(make_vec_env(make_env, n_envs=2), "gru")
    model.learn(64)
    obs = model.env.reset()
    actions, _ = model.predict(obs)
    assert model.action_space.contains(actions[0])


class _DiscreteObsEnv(gym.Env):
    observation_space = gym.spaces.Discrete(5)
    action_space = gym.spaces.Discrete(2)

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        return int(self.np_random.integers(5)), {}

    def step(self, action):
        return int(self.np_random.integers(5)), float(action), False, False, {}


def test_discrete_observations():
    model = tiny_ppo(make_vec_env(_DiscreteObsEnv, n_envs=2), "lstm")
    model.learn(64)


def test_seq_len_must_divide_n_steps():
    env = make_vec("memrl/TMaze-v0", n_envs=2)
    with pytest.raises(ValueError, match="seq_len must divide n_steps"):
        tiny_ppo(env, n_steps=16, seq_len=5)


def test_batch_size_must_be_a_multiple_of_seq_len():
    env = make_vec("memrl/TMaze-v0", n_envs=2)
    with pytest.raises(ValueError, match=r"batch_size \(12\) must be a multiple of seq_len \(8\)"):
        tiny_ppo(env, n_steps=16, seq_len=8, batch_size=12)


def test_rollout_logprobs_are_reproduced_by_the_training_unroll():
    """Buffer sequences rebuild exactly what the policy saw: same starts, same log-probs."""
    env = make_vec("memrl/TMaze-v0", n_envs=3, seed=1, corridor_length=2)
    model = tiny_ppo(env, "dnc", n_steps=24, seq_len=8, batch_size=24)
    starts_seen: list[np.ndarray] = []

    class Record(BaseCallback):
        def _on_step(self) -> bool:
            starts_seen.append(self.locals["starts"].cpu().numpy().copy())
            return True

    model.learn(24 * 3, callback=Record())  # one rollout of 24 steps
    buffer = model.rollout_buffer
    assert buffer.episode_starts[1:].sum() > 0, "the test needs resets inside the chunks"
    np.testing.assert_array_equal(buffer.episode_starts.cpu().numpy(), np.stack(starts_seen))
    # the policy has been updated by train(); re-collect with frozen weights and compare
    model.policy.set_training_mode(False)
    _, callback = model._setup_learn(24 * 3, None)
    callback.init_callback(model)
    model.collect_rollouts(model.env, callback, buffer, 24)
    with torch.no_grad():
        for batch in buffer.sequences(24, shuffle=False):
            _, log_prob, _, _ = model.policy.evaluate_actions(
                batch.observations,
                batch.actions.long().flatten(),
                batch.states,
                batch.episode_starts,
            )
            torch.testing.assert_close(log_prob, batch.old_log_prob, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("memory", ["dnc", "ntm", "memnet"])
def test_update_with_hard_reads_starts_from_the_rollout_log_probs(memory):
    """The first PPO ratio is 1 with Gumbel reads too: the update recomputes the argmax reads
    the rollout acted with (straight-through), not fresh Gumbel samples."""
    env = make_vec("memrl/TMaze-v0", n_envs=2, seed=0, corridor_length=2)
    memory_kwargs = {**tiny_kwargs(memory), "read_addressing": "gumbel"}
    model = tiny_ppo(
        env, memory, seq_len=8, n_epochs=1, policy_kwargs=dict(memory_kwargs=memory_kwargs)
    )
    first: dict[str, Tensor] = {}
    evaluate, sequences = model.policy.evaluate_actions, model.rollout_buffer.sequences

    def evaluate_spy(*args, **kwargs):
        result = evaluate(*args, **kwargs)
        first.setdefault("log_prob", result[1].detach().clone())
        return result

    def sequences_spy(*args, **kwargs):
        for batch in sequences(*args, **kwargs):
            first.setdefault("old_log_prob", batch.old_log_prob.clone())
            yield batch

    model.policy.evaluate_actions = evaluate_spy
    model.rollout_buffer.sequences = sequences_spy
    model.learn(16 * 2)  # one rollout, one update
    torch.testing.assert_close(first["log_prob"], first["old_log_prob"], atol=1e-5, rtol=1e-5)


def test_truncated_episodes_bootstrap_with_the_state_of_their_last_step():
    env = make_vec("memrl/TMaze-v0", n_envs=2)
    model = tiny_ppo(env, "lstm")
    policy = model.policy
    state = policy.initial_state(2)
    obs = torch.rand(2, 4)
    _, _, _, state = policy(obs, state, torch.ones(2))  # a state that is not the initial one
    terminal = np.array([0, 0, 1, 0], dtype=np.float32)
    infos = [
        {"terminal_observation": terminal, "TimeLimit.truncated": True},
        {"terminal_observation": terminal, "TimeLimit.truncated": False},
    ]
    rewards = model._bootstrap_truncated(torch.zeros(2), np.array([True, True]), infos, state)
    with torch.no_grad():
        expected = policy.predict_values(
            torch.as_tensor(terminal)[None], index_state(state, slice(0, 1)), torch.zeros(1)
        )
        fresh = policy.predict_values(
            torch.as_tensor(terminal)[None], policy.initial_state(1), torch.zeros(1)
        )
    assert rewards[0].item() == pytest.approx(model.gamma * expected.item(), abs=1e-6)
    assert rewards[0].item() != pytest.approx(model.gamma * fresh.item(), abs=1e-6)
    assert rewards[1].item() == 0.0  # a real termination is not bootstrapped


def test_save_load_round_trip_gives_the_same_actions(tmp_path):
    env = make_vec("memrl/TMaze-v0", n_envs=2, seed=3)
    model = tiny_ppo(env, "ntm")
    model.learn(64)
    model.save(tmp_path / "model.zip")
    loaded = MemoryPPO.load(tmp_path / "model.zip", device="cpu")
    obs = env.reset()
    state_a = state_b = None
    starts = np.ones(2, dtype=bool)
    for _ in range(6):
        act_a, state_a = model.predict(obs, state_a, starts, deterministic=True)
        act_b, state_b = loaded.predict(obs, state_b, starts, deterministic=True)
        np.testing.assert_array_equal(act_a, act_b)
        for a, b in zip(state_a, state_b, strict=True):
            torch.testing.assert_close(a, b)
        obs, _, dones, _ = env.step(act_a)
        starts = dones


def test_policy_saved_alone_loads_alone(tmp_path):
    model = tiny_ppo(
        make_vec("memrl/TMaze-v0", n_envs=2),
        "dnc",
        policy_kwargs=dict(shared_memory=False, net_arch=dict(pi=[8], vf=[8])),
    )
    model.policy.save(tmp_path / "policy.pt")
    policy = MemoryActorCriticPolicy.load(tmp_path / "policy.pt", device="cpu")
    assert not policy.shared_memory and policy.net_arch == dict(pi=[8], vf=[8])
    obs = np.zeros((1, 4), dtype=np.float32)
    a1, _ = model.policy.predict(obs, deterministic=True)
    a2, _ = policy.predict(obs, deterministic=True)
    np.testing.assert_array_equal(a1, a2)


def test_evaluate_policy_and_predict_with_and_without_state():
    env = make_vec("memrl/TMaze-v0", n_envs=2, seed=0, corridor_length=2)
    model = tiny_ppo(env, "gru")
    mean, _ = evaluate_policy(model, env, n_eval_episodes=4)
    assert np.isfinite(mean) and mean <= 1.0  # +1 at best; bumps and time-outs cost
    single = gym.make("memrl/TMaze-v0", corridor_length=2)
    obs, _ = single.reset(seed=0)
    action, state = model.predict(obs)  # one observation, no state: starts fresh
    assert single.action_space.contains(int(action))
    action, state = model.predict(obs, state=state, episode_start=np.array([False]))
    assert state.h.shape == (1, 16)


def test_separate_actor_and_critic_memories():
    model = tiny_ppo(
        make_vec("memrl/TMaze-v0", n_envs=2), "lstm", policy_kwargs=dict(shared_memory=False)
    )
    assert isinstance(model.policy.initial_state(2), ActorCriticState)
    model.learn(64)


def test_memory_statistics_are_logged():
    written: dict[str, float] = {}

    class Capture(KVWriter):
        def write(self, key_values, key_excluded, step=0):
            written.update(key_values)

    model = tiny_ppo(make_vec("memrl/TMaze-v0", n_envs=2), "dnc")
    model.set_logger(Logger(folder=None, output_formats=[Capture()]))
    model.learn(32)
    assert 0 < written["memory/read_entropy"] <= np.log(TINY["memory_slots"])
    assert 0 <= written["memory/slots_in_use"] <= 1


def test_mnm_meta_loss_is_trained():
    model = tiny_ppo(make_vec("memrl/TMaze-v0", n_envs=2), "mnm", meta_loss_coef=0.5)
    model.learn(64)
    assert model.logger.name_to_value["train/meta_loss"] > 0


class _DecayState(NamedTuple):
    trace: torch.Tensor


class DecayingTraceCore(MemoryCore):
    """A user's own core, defined outside memrl: an exponentially decaying input trace."""

    def __init__(self, input_size: int, decay: float = 0.9) -> None:
        super().__init__()
        self.input_size = self.output_size = input_size
        self.decay = decay
        self.mix = torch.nn.Linear(input_size, input_size)

    def initial_state(self, batch_size, device=None):
        weight = self.mix.weight
        return _DecayState(
            torch.zeros(
                batch_size, self.input_size, device=device or weight.device, dtype=weight.dtype
            )
        )

    def step(self, x, state):
        trace = self.decay * state.trace + torch.tanh(self.mix(x))
        return trace, _DecayState(trace)


def test_user_core_as_a_class_and_registered():
    env = make_vec("memrl/TMaze-v0", n_envs=2)
    tiny_ppo(env, DecayingTraceCore).learn(32)
    register_core("test-decaying-trace", overwrite=True)(DecayingTraceCore)
    tiny_ppo(env, "test-decaying-trace", policy_kwargs=dict(memory_kwargs=dict(decay=0.5))).learn(
        32
    )


def test_bad_policy_is_refused():
    with pytest.raises(TypeError, match="MemoryActorCriticPolicy"):
        MemoryPPO(ActorCriticPolicy, make_vec("memrl/TMaze-v0", n_envs=2))
