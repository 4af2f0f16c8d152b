"""Tests of memrl/PrioritySort-v0: targets sorted independently of the env, reward arithmetic,
ignored input-phase actions, seeding, the Gymnasium and SB3 checkers."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import memrl  # noqa: F401  (registers the memrl/ environments)
from memrl.envs.priority_sort import PrioritySort


def read_inputs(env: PrioritySort, seed: int, action: np.ndarray | None = None):
    """Reset, then step through the input phase; returns (vectors, priorities, reset info,
    rewards of the input steps). Only the observations are read, not the info."""
    obs, info = env.reset(seed=seed)
    vectors, priorities, rewards = [], [], []
    while obs[env.bits + 1] == 0:  # until the delimiter
        vectors.append(obs[: env.bits].astype(np.int8))
        priorities.append(float(obs[env.bits]))
        obs, reward, terminated, _, _ = env.step(
            env.action_space.sample() if action is None else action
        )
        rewards.append(reward)
        assert not terminated
    rewards.append(env.step(env.action_space.sample())[1])  # the delimiter step
    return np.array(vectors), np.array(priorities), info, rewards


def sorted_by_hand(vectors: np.ndarray, priorities: np.ndarray, count: int) -> np.ndarray:
    """The ``count`` vectors of highest priority, highest first, by selection."""
    remaining = list(range(len(priorities)))
    chosen = []
    for _ in range(count):
        best = max(remaining, key=lambda i: priorities[i])
        chosen.append(vectors[best])
        remaining.remove(best)
    return np.array(chosen)


@pytest.mark.parametrize("kwargs", [{}, {"bits": 8, "num_items": 20, "num_outputs": 16}])
@pytest.mark.parametrize("seed", range(5))
def test_target_is_the_top_vectors_sorted_by_priority(kwargs: dict, seed: int) -> None:
    env = PrioritySort(**kwargs)
    vectors, priorities, info, _ = read_inputs(env, seed)
    assert len(vectors) == env.num_items == info["num_items"]
    assert np.all((-1 <= priorities) & (priorities <= 1))
    np.testing.assert_allclose(priorities, info["priorities"])
    expected = sorted_by_hand(vectors, priorities, env.num_outputs)
    np.testing.assert_array_equal(info["target"], expected)
    assert info["target"].dtype == np.int8


def test_priorities_cover_the_interval() -> None:
    env = PrioritySort(num_items=50, num_outputs=1)
    _, priorities, _, _ = read_inputs(env, 0)
    assert priorities.min() < -0.8 and priorities.max() > 0.8


def test_reward_arithmetic_and_ignored_input_actions() -> None:
    env = PrioritySort(num_items=5, num_outputs=4, bits=4)
    for seed in range(5):
        # Input-phase actions of all ones, then: right, one bit wrong, all wrong, right.
        _, _, info, input_rewards = read_inputs(env, seed, action=np.ones(4, dtype=np.int8))
        assert input_rewards == [0.0] * 6
        target = info["target"]
        answers = [target[0], target[1].copy(), 1 - target[2], target[3]]
        answers[1][0] ^= 1
        rewards, terminated = [], False
        for answer in answers:
            assert not terminated
            _, reward, terminated, truncated, final = env.step(answer)
            rewards.append(reward)
            assert not truncated
        assert terminated
        assert rewards[:3] == pytest.approx([4 / 16, 3 / 16, 0.0])
        assert sum(rewards) == pytest.approx(11 / 16)
        assert final["bit_errors"] == 5
        assert final["is_success"] is False
        with pytest.raises(RuntimeError, match="terminated"):
            env.step(answers[0])


def test_perfect_answer_returns_exactly_one() -> None:
    env = PrioritySort(num_items=20, num_outputs=13)
    _, _, info, _ = read_inputs(env, 3)
    total = sum(env.step(vector)[1] for vector in info["target"])
    assert total == 1.0


def test_episode_timing_and_spaces() -> None:
    env = PrioritySort(bits=5, num_items=7, num_outputs=3)
    assert env.observation_space.shape == (8,)
    assert env.observation_space.low[5] == -1.0 and env.observation_space.low[:5].max() == 0.0
    assert env.action_space == gym.spaces.MultiBinary(5)
    env.reset(seed=0)
    steps, terminated = 0, False
    while not terminated:
        obs, _, terminated, _, _ = env.step(env.action_space.sample())
        steps += 1
        if steps > 8:
            assert obs[-1] == 1.0 or terminated  # respond flag in the output phase
    assert steps == 7 + 1 + 3


def test_seeding_is_deterministic() -> None:
    first, second = PrioritySort(), PrioritySort()
    a, b = first.reset(seed=7)[1], second.reset(seed=7)[1]
    np.testing.assert_array_equal(a["target"], b["target"])
    np.testing.assert_array_equal(a["priorities"], b["priorities"])
    assert not np.array_equal(a["priorities"], first.reset(seed=8)[1]["priorities"])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"num_outputs": 9}, "num_outputs must be an integer in \\[1, 8\\]"),
        ({"num_items": 0}, "num_items must be an integer >= 1"),
        ({"bits": 1.5}, "bits must be an integer"),
    ],
)
def test_bad_arguments(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        PrioritySort(**kwargs)


@pytest.mark.parametrize("env_id", ["memrl/PrioritySort-v0", "memrl/PrioritySortLong-v0"])
def test_check_env(env_id: str) -> None:
    env = gym.make(env_id, render_mode="rgb_array")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gym_check_env(env.unwrapped, skip_render_check=False)
        sb3_check_env(gym.make(env_id).unwrapped, warn=True)
    assert [str(warning.message) for warning in caught] == []
    frame = env.unwrapped.render()
    assert frame.dtype == np.uint8 and frame.shape[0] % 16 == 0
