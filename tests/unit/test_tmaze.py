"""Tests of the T-maze environment (memrl/envs/tmaze.py)."""

from __future__ import annotations

import itertools
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import memrl  # noqa: F401  (registers the memrl/ ids)
from memrl.envs.tmaze import (
    EAST,
    NORTH,
    OBS_CORRIDOR,
    OBS_CUE_NORTH,
    OBS_CUE_SOUTH,
    OBS_JUNCTION,
    SOUTH,
    WEST,
    TMaze,
)


def run_episode(env: TMaze, seed: int, policy) -> tuple[float, int, list[np.ndarray], bool, bool]:
    """Run `policy(obs, first_obs) -> action` for one episode.

    Returns (return, length, observations, terminated, truncated).
    """
    obs, _ = env.reset(seed=seed)
    first_obs = obs
    observations = [obs]
    total, length = 0.0, 0
    while True:
        obs, reward, terminated, truncated, _ = env.step(policy(obs, first_obs))
        observations.append(obs)
        total += reward
        length += 1
        if terminated or truncated:
            return total, length, observations, terminated, truncated


def oracle(obs: np.ndarray, first_obs: np.ndarray) -> int:
    """Remembers the cue of the first observation; walks east, then turns to the cued arm."""
    if obs[OBS_JUNCTION] == 1.0:
        return NORTH if first_obs[OBS_CUE_NORTH] == 1.0 else SOUTH
    return EAST


def cue_blind(obs: np.ndarray, first_obs: np.ndarray) -> int:
    """Ignores the cue: walks east, then always turns north."""
    return NORTH if obs[OBS_JUNCTION] == 1.0 else EAST


@pytest.mark.parametrize("corridor_length", [1, 10, 100])
def test_oracle_that_remembers_the_cue_always_gets_plus_one(corridor_length: int) -> None:
    env = TMaze(corridor_length=corridor_length)
    for seed in range(50):
        total, length, _, terminated, truncated = run_episode(env, seed, oracle)
        assert total == 1.0
        assert terminated and not truncated
        # corridor_length + 1 moves east to the junction, then one turn.
        assert length == corridor_length + 2


def test_cue_blind_policy_averages_zero() -> None:
    env = TMaze(corridor_length=10)
    returns = [run_episode(env, seed, cue_blind)[0] for seed in range(400)]
    assert set(returns) == {1.0, -1.0}
    # Cues are fair coin flips: the standard error of the mean over 400 episodes is 0.05.
    assert abs(np.mean(returns)) < 0.15


def seeds_with_each_cue(env: TMaze) -> tuple[int, int]:
    """A seed giving a north cue and one giving a south cue."""
    found: dict[int, int] = {}
    for seed in range(100):
        env.reset(seed=seed)
        found.setdefault(env.cue, seed)
        if len(found) == 2:
            return found[NORTH], found[SOUTH]
    raise AssertionError("100 seeds did not give both cues")


def test_only_the_start_shows_the_cue_and_the_junction_looks_the_same_for_both_cues() -> None:
    env = TMaze(corridor_length=5)
    north_seed, south_seed = seeds_with_each_cue(env)
    _, _, north_obs, _, _ = run_episode(env, north_seed, cue_blind)
    _, _, south_obs, _, _ = run_episode(env, south_seed, cue_blind)
    expected_start = {north_seed: OBS_CUE_NORTH, south_seed: OBS_CUE_SOUTH}
    for seed, observations in ((north_seed, north_obs), (south_seed, south_obs)):
        one_hot = np.eye(4, dtype=np.float32)
        np.testing.assert_array_equal(observations[0], one_hot[expected_start[seed]])
        for obs in observations[1:6]:
            np.testing.assert_array_equal(obs, one_hot[OBS_CORRIDOR])
        np.testing.assert_array_equal(observations[6], one_hot[OBS_JUNCTION])
        assert all(obs.dtype == np.float32 and obs.shape == (4,) for obs in observations)
    # After the first observation the two episodes are indistinguishable.
    for north, south in zip(north_obs[1:], south_obs[1:], strict=True):
        np.testing.assert_array_equal(north, south)


def test_no_memoryless_policy_beats_chance() -> None:
    """Every deterministic memoryless policy (obs -> action) has an expected return <= 0, even
    those that use the cue they see at the start (e.g. wait there under one cue only, which
    would score +0.5 if time-outs paid 0): memory is necessary to do better."""
    env = TMaze(corridor_length=3, max_steps=20)
    north_seed, south_seed = seeds_with_each_cue(env)
    best = -np.inf
    for table in itertools.product(range(4), repeat=4):

        def memoryless(obs: np.ndarray, first_obs: np.ndarray, table=table) -> int:
            return table[int(np.argmax(obs))]

        north_return = run_episode(env, north_seed, memoryless)[0]
        south_return = run_episode(env, south_seed, memoryless)[0]
        best = max(best, (north_return + south_return) / 2)
    assert best == 0.0


def test_moves_against_walls_leave_the_agent_in_place() -> None:
    env = TMaze(corridor_length=2)
    env.reset(seed=0)
    for action in (WEST, NORTH, SOUTH):
        env.step(action)
        assert env.agent_x == 0
    env.step(EAST)
    for action in (NORTH, SOUTH):
        env.step(action)
        assert env.agent_x == 1
    env.step(WEST)
    assert env.agent_x == 0
    for _ in range(5):
        env.step(EAST)
    assert env.agent_x == 3  # the junction; east of it is a wall
    assert env.observation_space.contains(env._observation())


def test_stepping_after_termination_is_an_error() -> None:
    env = TMaze(corridor_length=1)
    run_episode(env, 0, oracle)
    with pytest.raises(RuntimeError, match="reset"):
        env.step(EAST)


@pytest.mark.parametrize(("corridor_length", "max_steps"), [(10, None), (10, 12), (4, 30)])
def test_time_out_terminates_with_minus_one(corridor_length: int, max_steps: int | None) -> None:
    env = TMaze(corridor_length=corridor_length, max_steps=max_steps, bump_penalty=0.0)
    expected_limit = 4 * (corridor_length + 2) if max_steps is None else max_steps
    assert env.max_steps == expected_limit
    env.reset(seed=0)
    for step in range(1, expected_limit + 1):
        _, reward, terminated, truncated, _ = env.step(WEST)
        assert not truncated, "the time-out is an outcome of the task: never bootstrapped"
        assert terminated == (step == expected_limit)
        assert reward == (-1.0 if terminated else 0.0)


def test_bumping_into_a_wall_costs_the_bump_penalty() -> None:
    env = TMaze(corridor_length=2, bump_penalty=0.25)
    env.reset(seed=0)
    rewards = [env.step(action)[1] for action in (WEST, EAST, NORTH, SOUTH, EAST, EAST, EAST)]
    # west at the start, north/south in the corridor, east at the junction stay in place
    assert rewards == [-0.25, 0.0, -0.25, -0.25, 0.0, 0.0, -0.25]


def test_a_step_west_costs_the_backtrack_penalty_and_a_bump_only_the_bump_penalty() -> None:
    env = TMaze(corridor_length=3, bump_penalty=0.25, backtrack_penalty=0.5)
    env.reset(seed=0)
    actions = (WEST, EAST, EAST, WEST, NORTH, EAST, EAST, EAST)
    rewards = [env.step(action)[1] for action in actions]
    # west at the start is a bump; west in the corridor moves back; east moves on for free
    assert rewards == [-0.25, 0.0, 0.0, -0.5, -0.25, 0.0, 0.0, 0.0]
    assert env.agent_x == env.junction_x


def test_with_a_backtrack_penalty_only_the_walk_straight_east_is_free() -> None:
    env = TMaze(corridor_length=4, backtrack_penalty=0.1)
    for action in (NORTH, SOUTH, WEST):
        env.reset(seed=0)
        env.step(EAST)
        assert env.step(action)[1] == pytest.approx(-0.1), action
    total, length, _, _, _ = run_episode(env, 0, oracle)
    assert (total, length) == (1.0, 6)


def test_reaching_an_arm_on_the_last_allowed_step_terminates_without_truncating() -> None:
    env = TMaze(corridor_length=10, max_steps=12)
    total, length, _, terminated, truncated = run_episode(env, 3, oracle)
    assert (total, length, terminated, truncated) == (1.0, 12, True, False)


@pytest.mark.parametrize("corridor_length", [1, 10, 100])
def test_render_gives_a_readable_rgb_frame_that_shows_the_cue(corridor_length: int) -> None:
    env = TMaze(corridor_length=corridor_length, render_mode="rgb_array")
    north_seed, south_seed = seeds_with_each_cue(env)
    frames = {}
    for seed in (north_seed, south_seed):
        env.reset(seed=seed)
        frame = env.render()
        assert frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 3
        assert 100 <= frame.shape[0] <= 400 and 100 <= frame.shape[1] <= 400
        frames[env.cue] = frame
    assert not np.array_equal(frames[NORTH], frames[SOUTH])
    env.step(EAST)
    assert not np.array_equal(env.render(), frames[SOUTH]), "the agent moved: frame must change"
    assert TMaze(corridor_length=corridor_length).render() is None


@pytest.mark.parametrize("env_id", ["memrl/TMaze-v0", "memrl/TMazeLong-v0"])
@pytest.mark.parametrize("render_mode", [None, "rgb_array"])
def test_passes_gymnasium_and_sb3_env_checkers_without_warnings(
    env_id: str, render_mode: str | None
) -> None:
    env = gym.make(env_id, render_mode=render_mode)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gym_check_env(env.unwrapped)
        sb3_check_env(env.unwrapped)
    assert [str(w.message) for w in caught] == []


def test_registered_variants() -> None:
    assert gym.make("memrl/TMaze-v0").unwrapped.corridor_length == 10
    assert gym.make("memrl/TMazeLong-v0").unwrapped.corridor_length == 100


def test_deterministic_for_a_seed() -> None:
    env_a, env_b = TMaze(corridor_length=6), TMaze(corridor_length=6)
    actions = np.random.default_rng(0).integers(4, size=500)
    cues = []
    for seed in range(20):
        trace = []
        for env in (env_a, env_b):
            obs, _ = env.reset(seed=seed)
            steps = [obs]
            for action in actions:
                obs, reward, terminated, truncated, _ = env.step(action)
                steps.append((obs, reward, terminated, truncated))
                if terminated or truncated:
                    break
            trace.append(repr(steps))
        assert trace[0] == trace[1]
        cues.append(env_a.cue)
    assert set(cues) == {NORTH, SOUTH}
    # Unseeded resets continue the seeded generator: the cue sequence is reproducible too.
    sequences = []
    for _ in range(2):
        env = TMaze()
        env.reset(seed=7)
        sequence = []
        for _ in range(30):
            env.reset()
            sequence.append(env.cue)
        sequences.append(sequence)
    assert sequences[0] == sequences[1]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"corridor_length": 0}, "corridor_length must be an integer in \\[1, "),
        ({"corridor_length": -3}, "corridor_length must be an integer in \\[1, "),
        ({"corridor_length": 2.5}, "corridor_length must be an integer in \\[1, "),
        ({"corridor_length": True}, "corridor_length must be an integer in \\[1, "),
        ({"corridor_length": 10, "max_steps": 11}, r"max_steps must be None or an int >= .* 12"),
        ({"max_steps": 50.0}, "max_steps must be None or an int"),
        ({"bump_penalty": -0.1}, "bump_penalty must be a finite number >= 0"),
        ({"bump_penalty": float("nan")}, "bump_penalty must be a finite number >= 0"),
        ({"backtrack_penalty": -1}, "backtrack_penalty must be a finite number >= 0"),
        ({"backtrack_penalty": "0.1"}, "backtrack_penalty must be a finite number >= 0"),
        ({"render_mode": "human"}, r"render_mode must be None or one of \['rgb_array'\]"),
    ],
)
def test_bad_arguments_raise_value_error(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TMaze(**kwargs)


def test_bad_action_raises_value_error() -> None:
    env = TMaze()
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"action must be in 0\.\.3"):
        env.step(4)
