"""A memory core inside plain SB3 algorithms through HistoryWindow + WindowMemoryExtractor."""

from __future__ import annotations

import gymnasium as gym
import pytest
import torch
from stable_baselines3 import A2C, DQN, PPO
from stable_baselines3.common.env_util import make_vec_env

from memrl.envs import HistoryWindow
from memrl.memory import core_names
from memrl.sb3 import WindowMemoryExtractor


def window_env(k: int = 6):
    return HistoryWindow(gym.make("memrl/TMaze-v0", corridor_length=3), k=k)


def small(memory: str) -> dict:
    sizes = {
        "ntm": dict(memory_slots=8, slot_size=8, controller_size=16),
        "dnc": dict(memory_slots=8, slot_size=8, controller_size=16, read_heads=1),
        "mnm": dict(controller_size=16, key_size=8),
        "memnet": dict(memory_slots=8, key_size=16),
    }
    return sizes.get(memory, dict(hidden_size=16))


@pytest.mark.parametrize(
    ("algorithm", "kwargs"),
    [
        (PPO, dict(n_steps=32, batch_size=32, n_epochs=1)),
        (A2C, dict(n_steps=8)),
        (DQN, dict(learning_starts=16, buffer_size=200, batch_size=16, train_freq=4)),
    ],
    ids=["ppo", "a2c", "dqn"],
)
def test_sb3_algorithms_take_a_core_through_policy_kwargs(algorithm, kwargs):
    env = make_vec_env(window_env, n_envs=2, seed=0)
    model = algorithm(
        "MlpPolicy",
        env,
        policy_kwargs=dict(
            features_extractor_class=WindowMemoryExtractor,
            features_extractor_kwargs=dict(memory="ntm", memory_kwargs=small("ntm")),
        ),
        seed=0,
        device="cpu",
        **kwargs,
    )
    before = [p.detach().clone() for p in model.policy.parameters()]
    model.learn(96)
    changed = [
        not torch.equal(a, b) for a, b in zip(before, model.policy.parameters(), strict=True)
    ]
    assert any(changed)
    obs = env.reset()
    actions, _ = model.predict(obs, deterministic=True)
    assert actions.shape == (2,)


@pytest.mark.parametrize("memory", core_names())
def test_every_core_fits_in_the_window_extractor(memory):
    space = window_env().observation_space
    extractor = WindowMemoryExtractor(space, memory=memory, memory_kwargs=small(memory))
    obs = torch.as_tensor(space.sample())[None].repeat(3, 1, 1)
    assert extractor(obs).shape == (3, extractor.features_dim)


def test_padding_rows_do_not_change_the_features():
    """Rows before the episode began (mask 0) must not influence the output, whatever they hold."""
    space = window_env(k=5).observation_space
    extractor = WindowMemoryExtractor(space, memory="lstm", memory_kwargs=dict(hidden_size=8))
    window = torch.zeros(1, 5, space.shape[1])
    window[0, 3:, 0] = 1.0  # two real observations at the end
    window[0, 3:, 1:] = torch.rand(2, space.shape[1] - 1)
    garbage = window.clone()
    garbage[0, :3, 1:] = torch.rand(3, space.shape[1] - 1) * 10
    torch.testing.assert_close(extractor(window), extractor(garbage))
    fresh_core_output, _ = extractor.core(
        window[0, 3:, 1:].unsqueeze(1), extractor.core.initial_state(1)
    )
    torch.testing.assert_close(extractor(window)[0], fresh_core_output[-1, 0])


def test_window_extractor_refuses_other_spaces():
    with pytest.raises(ValueError, match="HistoryWindow"):
        WindowMemoryExtractor(gym.spaces.Box(0, 1, (4,)))
