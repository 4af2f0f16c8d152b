"""HistoryWindow: window layout checked against hand-built arrays, reset, masks, Dict obs."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

from memrl.envs import HistoryWindow, make


class Counter(gym.Env):
    """Observation at step t is [t, -t]; the episode ends after ``length`` steps."""

    metadata = {"render_modes": []}  # noqa: RUF012

    def __init__(self, length: int = 100) -> None:
        self.observation_space = spaces.Box(-1000.0, 1000.0, (2,), np.float32)
        self.action_space = spaces.Discrete(2)
        self.length = length
        self.t = 0

    def _obs(self) -> np.ndarray:
        return np.array([self.t, -self.t], dtype=np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self._obs(), {}

    def step(self, action):
        self.t += 1
        return self._obs(), 0.0, self.t >= self.length, False, {}


def rows(*entries: tuple[float, float] | None) -> np.ndarray:
    """Expected window: None is a padding row, (a, b) a valid row [1, a, b]."""
    return np.array(
        [[0.0, 0.0, 0.0] if e is None else [1.0, *e] for e in entries], dtype=np.float32
    )


def test_window_after_reset_and_steps_matches_hand_built_rows():
    env = HistoryWindow(Counter(), k=3)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (3, 3) and obs.dtype == np.float32
    np.testing.assert_array_equal(obs, rows(None, None, (0, 0)))
    obs, *_ = env.step(0)
    np.testing.assert_array_equal(obs, rows(None, (0, 0), (1, -1)))
    obs, *_ = env.step(0)
    np.testing.assert_array_equal(obs, rows((0, 0), (1, -1), (2, -2)))
    for _ in range(2):
        obs, *_ = env.step(0)
    # Oldest first, newest last; t = 0 and 1 have scrolled out.
    np.testing.assert_array_equal(obs, rows((2, -2), (3, -3), (4, -4)))


def test_reset_clears_the_window():
    env = HistoryWindow(Counter(), k=4)
    env.reset(seed=0)
    for _ in range(6):
        env.step(1)
    obs, _ = env.reset()
    np.testing.assert_array_equal(obs, rows(None, None, None, (0, 0)))
    assert obs[:, HistoryWindow.MASK_COLUMN].tolist() == [0.0, 0.0, 0.0, 1.0]


def test_padding_mask_counts_the_steps_of_the_episode():
    env = HistoryWindow(Counter(), k=5)
    obs, _ = env.reset(seed=0)
    masks = [obs[:, 0].sum()]
    for _ in range(6):
        obs, *_ = env.step(0)
        masks.append(obs[:, 0].sum())
    assert masks == [1, 2, 3, 4, 5, 5, 5]
    # Valid rows are always the last ones: the mask is non-decreasing down the window.
    assert np.all(np.diff(obs[:, 0]) >= 0)


def test_returned_window_is_a_copy():
    env = HistoryWindow(Counter(), k=2)
    first, _ = env.reset(seed=0)
    first[:] = 99.0
    second, *_ = env.step(0)
    np.testing.assert_array_equal(second, rows((0, 0), (1, -1)))


def test_k_equal_one_is_just_the_masked_observation():
    env = HistoryWindow(Counter(), k=1)
    env.reset(seed=0)
    obs, *_ = env.step(0)
    np.testing.assert_array_equal(obs, rows((1, -1)))


@pytest.mark.parametrize("k", [0, -1, 2.5, True, "3", None])
def test_bad_k_is_a_value_error(k):
    with pytest.raises(ValueError, match="k must be an integer >= 1"):
        HistoryWindow(Counter(), k=k)


def test_discrete_observations_are_one_hot():
    env = HistoryWindow(make("popgym-RepeatPreviousEasy-v0", wrappers=[]), k=2)
    # The popgym wrapper already flattens; use the raw Discrete(4) task to test one-hot here.
    raw = HistoryWindow(gym.make("popgym-RepeatPreviousEasy-v0"), k=2)
    assert raw.observation_space.shape == (2, 1 + 4)
    obs, _ = raw.reset(seed=3)
    card = raw.unwrapped.card.item()
    expected = np.zeros((2, 5), dtype=np.float32)
    expected[1, 0] = 1.0
    expected[1, 1 + card] = 1.0
    np.testing.assert_array_equal(obs, expected)
    assert env.observation_space.shape == (2, 5)


def test_dict_observations_minigrid():
    inner = make("MiniGrid-MemoryS7-v0", view_size=3)
    env = HistoryWindow(inner, k=4)
    # D = flatdim({"direction": Discrete(4), "image": Box(3, 3, 3)}) = 4 + 27.
    assert env.observation_space.shape == (4, 1 + 31)
    obs, _ = env.reset(seed=1)
    raw, _ = inner.reset(seed=1)
    expected_row = np.concatenate([[1.0], spaces.flatten(inner.observation_space, raw)])
    np.testing.assert_array_equal(obs[-1], expected_row.astype(np.float32))
    np.testing.assert_array_equal(obs[:-1], 0.0)
    assert env.observation_space.contains(obs)


def test_bounds_include_padding_for_spaces_not_containing_zero():
    class Shifted(Counter):
        def __init__(self):
            super().__init__()
            self.observation_space = spaces.Box(5.0, 9.0, (2,), np.float32)

        def _obs(self):
            return np.array([5.0 + self.t % 4, 9.0], dtype=np.float32)

    env = HistoryWindow(Shifted(), k=3)
    obs, _ = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    assert env.observation_space.low[0, 1] == 0.0 and env.observation_space.high[0, 1] == 9.0


@pytest.mark.parametrize(
    "factory",
    [
        lambda: HistoryWindow(Counter(length=7), k=3),
        lambda: HistoryWindow(make("MiniGrid-MemoryS7-v0", view_size=3), k=3),
    ],
    ids=["box", "minigrid-dict"],
)
def test_check_env_gymnasium_and_sb3(factory):
    with warnings.catch_warnings():
        # SB3 warns that a 2-D observation is "unconventional": expected for a window.
        warnings.simplefilter("ignore")
        gym_check_env(factory(), skip_render_check=True)
        sb3_check_env(factory())


def test_sb3_mlp_policy_takes_the_window():
    from stable_baselines3 import PPO

    env = HistoryWindow(Counter(length=10), k=4)
    model = PPO("MlpPolicy", env, n_steps=16, batch_size=16, n_epochs=1, seed=0, device="cpu")
    obs, _ = env.reset(seed=0)
    action, _ = model.predict(obs, deterministic=True)
    assert env.action_space.contains(int(action))
