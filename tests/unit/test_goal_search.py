"""Tests of the hidden-goal grid world (memrl/envs/goal_search.py)."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import memrl  # noqa: F401  (registers the memrl/ ids)
from memrl.envs.goal_search import (
    AGENT_COLOUR,
    EAST,
    GOAL_COLOUR,
    NORTH,
    SOUTH,
    VIEW_COLOUR,
    WEST,
    GoalSearch,
)

MOVES = {NORTH: (-1, 0), EAST: (0, 1), SOUTH: (1, 0), WEST: (0, -1)}


def expected_window(size: int, view: int, row: int, col: int) -> np.ndarray:
    """The view x view window computed cell by cell: 1 outside the room, 0 inside."""
    half = view // 2
    window = np.ones((view, view), dtype=np.float32)
    for i in range(view):
        for j in range(view):
            if 0 <= row - half + i < size and 0 <= col - half + j < size:
                window[i, j] = 0.0
    return window


def expected_observation(
    env: GoalSearch, last_action: int | None, last_reward: float
) -> np.ndarray:
    """What the observation must be: the window, one-hot last action, last reward. Nothing else."""
    action = np.zeros(4, dtype=np.float32)
    if last_action is not None:
        action[last_action] = 1.0
    window = expected_window(env.size, env.view, *env.agent_position)
    return np.concatenate([window.ravel(), action, [last_reward]]).astype(np.float32)


def oracle_action(env: GoalSearch) -> int:
    """Walks straight to the goal, read from the env (what a perfect memory would know)."""
    (row, col), (goal_row, goal_col) = env.agent_position, env.goal_position
    if goal_row < row:
        return NORTH
    if goal_row > row:
        return SOUTH
    return EAST if goal_col > col else WEST


def episode_return(env: GoalSearch, seed: int, policy) -> float:
    env.reset(seed=seed)
    total, done = 0.0, False
    while not done:
        _, reward, terminated, truncated, _ = env.step(policy(env))
        total += reward
        done = terminated or truncated
    return total


def test_window_matches_hand_computed_cells_in_a_corner() -> None:
    assert expected_window(2, 3, 0, 0).tolist() == [[1, 1, 1], [1, 0, 0], [1, 0, 0]]
    assert expected_window(2, 5, 1, 0).tolist() == [
        [1, 1, 1, 1, 1],
        [1, 1, 0, 0, 1],
        [1, 1, 0, 0, 1],
        [1, 1, 1, 1, 1],
        [1, 1, 1, 1, 1],
    ]


@pytest.mark.parametrize(("size", "view"), [(9, 3), (5, 1), (4, 5), (3, 7), (13, 3)])
def test_observation_is_exactly_window_last_action_and_last_reward(size: int, view: int) -> None:
    """The observation is a function of the agent's cell, last action and last reward only,
    checked against hand-computed values along random walks: the goal cannot be in it."""
    env = GoalSearch(size=size, view=view, episode_steps=300)
    rng = np.random.default_rng(size * 10 + view)
    for seed in range(3):
        obs, _ = env.reset(seed=seed)
        assert obs.shape == (view * view + 5,) and obs.dtype == np.float32
        np.testing.assert_array_equal(obs, expected_observation(env, None, 0.0))
        for action in rng.integers(4, size=300):
            obs, reward, _, _, _ = env.step(action)
            np.testing.assert_array_equal(obs, expected_observation(env, int(action), reward))
            assert env.observation_space.contains(obs)


def test_reward_only_on_the_goal_and_respawn_never_on_it() -> None:
    size = 3
    env = GoalSearch(size=size, episode_steps=2000)
    rng = np.random.default_rng(0)
    for seed in range(5):
        env.reset(seed=seed)
        goal = env.goal_position
        assert env.agent_position != goal
        respawn_cells = set()
        for action in rng.integers(4, size=2000):
            row, col = env.agent_position
            d_row, d_col = MOVES[int(action)]
            target = (min(max(row + d_row, 0), size - 1), min(max(col + d_col, 0), size - 1))
            obs, reward, _, _, _ = env.step(action)
            assert env.goal_position == goal, "the goal is fixed for the episode"
            assert env.agent_position != goal
            assert obs[-1] == reward
            if target == goal:
                assert reward == 1.0
                respawn_cells.add(env.agent_position)
            else:
                assert reward == 0.0
                assert env.agent_position == target
        # Respawns reach every free cell but the goal (uniform over the 8 others).
        all_cells = {(r, c) for r in range(size) for c in range(size)}
        assert respawn_cells == all_cells - {goal}


def test_goals_found_counts_rewards() -> None:
    env = GoalSearch(size=4)
    env.reset(seed=1)
    total = 0.0
    for _ in range(100):
        _, reward, _, _, info = env.step(oracle_action(env))
        total += reward
        assert info["goals_found"] == total


@pytest.mark.parametrize("episode_steps", [1, 7, 100])
def test_episode_lasts_exactly_episode_steps_and_never_terminates(episode_steps: int) -> None:
    env = GoalSearch(size=5, episode_steps=episode_steps)
    for seed in range(3):
        env.reset(seed=seed)
        for step in range(1, episode_steps + 1):
            _, _, terminated, truncated, _ = env.step(oracle_action(env))
            assert not terminated
            assert truncated == (step == episode_steps)


@pytest.mark.parametrize("size", [5, 9, 13])
def test_oracle_that_knows_the_goal_beats_a_random_walk(size: int) -> None:
    env = GoalSearch(size=size)
    rng = np.random.default_rng(0)
    seeds = range(20)
    oracle = np.mean([episode_return(env, seed, oracle_action) for seed in seeds])
    random = np.mean([episode_return(env, seed, lambda _: int(rng.integers(4))) for seed in seeds])
    # A straight walk takes about 2 * size / 3 steps per goal; a random walk needs of the order
    # of size^2 * log(size) steps to hit one cell.
    assert oracle > 3 * random
    assert oracle >= 100 / (2 * size)


@pytest.mark.parametrize(("size", "view"), [(2, 1), (5, 3), (9, 3), (13, 3), (9, 19)])
def test_render_shows_walls_goal_agent_and_window(size: int, view: int) -> None:
    env = GoalSearch(size=size, view=view, render_mode="rgb_array")
    env.reset(seed=0)
    for action in (EAST, SOUTH, EAST):
        env.step(action)
        frame = env.render()
        assert frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 3
        assert 100 <= frame.shape[0] <= 400 and frame.shape[0] == frame.shape[1]
        pixels = {tuple(p) for p in frame.reshape(-1, 3)}
        assert {GOAL_COLOUR, AGENT_COLOUR, VIEW_COLOUR} <= pixels
    # The agent's disc sits in its cell: the centre pixel of that cell is orange.
    cell = frame.shape[0] // (size + 2)
    row, col = env.agent_position
    assert tuple(frame[(row + 1) * cell + cell // 2, (col + 1) * cell + cell // 2]) == AGENT_COLOUR
    goal_row, goal_col = env.goal_position
    centre = frame[(goal_row + 1) * cell + cell // 2, (goal_col + 1) * cell + cell // 2]
    assert tuple(centre) == GOAL_COLOUR
    assert GoalSearch(size=size, view=view).render() is None


@pytest.mark.parametrize(
    "env_id", ["memrl/GoalSearch-v0", "memrl/GoalSearch-5x5-v0", "memrl/GoalSearch-13x13-v0"]
)
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
    for env_id, size in [
        ("memrl/GoalSearch-5x5-v0", 5),
        ("memrl/GoalSearch-v0", 9),
        ("memrl/GoalSearch-13x13-v0", 13),
    ]:
        env = gym.make(env_id).unwrapped
        assert (env.size, env.view, env.episode_steps) == (size, 3, 100)


def test_deterministic_for_a_seed() -> None:
    actions = np.random.default_rng(0).integers(4, size=100)
    goals = set()
    for seed in range(10):
        traces = []
        for _ in range(2):
            env = GoalSearch(size=5)
            obs, _ = env.reset(seed=seed)
            trace = [obs, env.goal_position, env.agent_position]
            for action in actions:
                trace.append(env.step(action)[:4])
                trace.append(env.agent_position)
            traces.append(repr(trace))
        assert traces[0] == traces[1]
        goals.add(env.goal_position)
    assert len(goals) > 1, "different seeds must give different goals"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"size": 1}, "size must be an int >= 2"),
        ({"size": 0}, "size must be an int >= 2"),
        ({"size": 9.0}, "size must be an int >= 2"),
        ({"view": 2}, "view must be an odd int"),
        ({"view": 0}, "view must be an odd int"),
        ({"view": -1}, "view must be an odd int"),
        ({"size": 5, "view": 13}, r"view must be an odd int with 1 <= view <= 2 \* size \+ 1 = 11"),
        ({"view": 3.0}, "view must be an odd int"),
        ({"episode_steps": 0}, "episode_steps must be an int >= 1"),
        ({"episode_steps": True}, "episode_steps must be an int >= 1"),
        ({"render_mode": "human"}, r"render_mode must be None or one of \['rgb_array'\]"),
    ],
)
def test_bad_arguments_raise_value_error(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        GoalSearch(**kwargs)


def test_largest_window_is_accepted_and_sees_the_whole_room_from_any_cell() -> None:
    env = GoalSearch(size=3, view=7)
    for seed in range(10):
        obs, _ = env.reset(seed=seed)
        assert obs[:49].sum() == 49 - 9  # all 9 room cells are free, the rest wall/outside


def test_bad_action_raises_value_error() -> None:
    env = GoalSearch()
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"action must be in 0\.\.3"):
        env.step(-1)
