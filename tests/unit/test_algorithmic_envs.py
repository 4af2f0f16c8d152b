"""Tests of the NTM paper's algorithmic tasks: Copy, RepeatCopy, AssociativeRecall."""

from __future__ import annotations

import warnings
from collections.abc import Callable

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import memrl  # noqa: F401  (registers the memrl/ environments)
from memrl.envs.associative_recall import AssociativeRecall
from memrl.envs.copy_task import Copy
from memrl.envs.repeat_copy import RepeatCopy

ENV_IDS = ["memrl/Copy-v0", "memrl/RepeatCopy-v0", "memrl/AssociativeRecall-v0"]
CLASSES = [Copy, RepeatCopy, AssociativeRecall]


# -- oracles: they see only the observations, never the info ------------------------------------


class CopyOracle:
    """Remembers the vectors before the delimiter and replays them."""

    def __init__(self, env: Copy) -> None:
        self.bits = env.bits
        self.seen: list[np.ndarray] = []
        self.plan: list[np.ndarray] | None = None

    def act(self, obs: np.ndarray) -> np.ndarray:
        if obs[-1] == 0:  # input phase
            if obs[self.bits] == 1:
                self.plan = list(self.seen)
            else:
                self.seen.append(obs[: self.bits].astype(np.int8))
            return np.ones(self.bits, dtype=np.int8)  # ignored; must not cost anything
        assert self.plan is not None
        return self.plan.pop(0)


class RepeatCopyOracle:
    """Remembers the sequence and the count N, emits the sequence N times then the marker."""

    def __init__(self, env: RepeatCopy) -> None:
        self.bits, self.scale, self.marker = env.bits, env.repeat_scale, env.end_marker
        self.seen: list[np.ndarray] = []
        self.plan: list[np.ndarray] = []

    def act(self, obs: np.ndarray) -> np.ndarray:
        size = self.bits + int(self.marker)
        if obs[-1] == 0:
            if obs[self.bits] == 1:
                repeats = round(float(obs[self.bits + 1]) * self.scale)
                for _ in range(repeats):
                    for vector in self.seen:
                        self.plan.append(np.concatenate([vector, np.zeros(size - self.bits)]))
                if self.marker:
                    end = np.zeros(size)
                    end[-1] = 1
                    self.plan.append(end)
            else:
                self.seen.append(obs[: self.bits].copy())
            return np.ones(size, dtype=np.int8)
        return self.plan.pop(0).astype(np.int8)


def parse_recall_input(observations: list[np.ndarray], bits: int) -> tuple[list, list]:
    """Items (list of [k, bits] arrays) and the query ([k, bits]) from input observations."""
    items: list[list[np.ndarray]] = []
    query: list[np.ndarray] = []
    query_delimiters = 0
    for obs in observations:
        if obs[bits] == 1:
            items.append([])
        elif obs[bits + 1] == 1:
            query_delimiters += 1
        elif query_delimiters == 1:
            query.append(obs[:bits].copy())
        else:
            items[-1].append(obs[:bits].copy())
    return [np.array(item) for item in items], np.array(query)


class RecallOracle:
    """Remembers the items; after the query emits the item following it."""

    def __init__(self, env: AssociativeRecall) -> None:
        self.bits = env.bits
        self.seen: list[np.ndarray] = []
        self.plan: list[np.ndarray] | None = None

    def act(self, obs: np.ndarray) -> np.ndarray:
        if obs[-1] == 0:
            self.seen.append(obs.copy())
            return np.ones(self.bits, dtype=np.int8)
        if self.plan is None:
            items, query = parse_recall_input(self.seen, self.bits)
            position = next(i for i, item in enumerate(items) if np.array_equal(item, query))
            self.plan = list(items[position + 1])
        return self.plan.pop(0).astype(np.int8)


ORACLES: dict[type, Callable] = {
    Copy: CopyOracle,
    RepeatCopy: RepeatCopyOracle,
    AssociativeRecall: RecallOracle,
}


def run_episode(env: gym.Env, seed: int, policy: Callable[[np.ndarray], np.ndarray]) -> dict:
    """Play one episode; returns the observations, rewards, reset info and final info."""
    obs, reset_info = env.reset(seed=seed)
    observations, rewards = [obs], []
    terminated = truncated = False
    info: dict = {}
    while not (terminated or truncated):
        obs, reward, terminated, truncated, info = env.step(policy(obs))
        observations.append(obs)
        rewards.append(reward)
    assert terminated and not truncated
    return {
        "observations": observations,
        "rewards": rewards,
        "return": sum(rewards),
        "reset_info": reset_info,
        "info": info,
    }


# -- tests ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", CLASSES)
@pytest.mark.parametrize("seed", range(10))
def test_oracle_gets_exactly_one(cls: type, seed: int) -> None:
    env = cls()
    oracle = ORACLES[cls](env)
    episode = run_episode(env, seed, oracle.act)
    assert episode["return"] == 1.0
    assert episode["info"]["bit_errors"] == 0
    assert episode["info"]["is_success"] is True
    assert episode["info"]["bit_accuracy"] == 1.0
    np.testing.assert_array_equal(episode["info"]["emitted"], episode["info"]["target"])


@pytest.mark.parametrize("length", [1, 3, 7, 10, 13, 29, 64])
def test_perfect_return_is_exactly_one_for_awkward_lengths(length: int) -> None:
    # 1/L summed L times is not 1.0 in floating point for many L (e.g. 10, 13, 29).
    env = Copy(min_length=length, max_length=length)
    oracle = CopyOracle(env)
    assert run_episode(env, 0, oracle.act)["return"] == 1.0


@pytest.mark.parametrize("cls", CLASSES)
def test_constant_zero_output_scores_about_half(cls: type) -> None:
    env = cls()
    returns = []
    for seed in range(40):
        episode = run_episode(env, seed, lambda obs: np.zeros(env.action_space.n, dtype=np.int8))
        info = episode["info"]
        target = info["target"]
        # The return is the fraction of target entries that are 0 (computed here by hand).
        assert episode["return"] == pytest.approx(1.0 - target.mean())
        assert info["bit_errors"] == int(target.sum())
        returns.append(episode["return"])
    assert 0.3 < np.mean(returns) < 0.7


@pytest.mark.parametrize("cls", CLASSES)
def test_rewards_zero_in_input_phase_and_return_in_unit_interval(cls: type) -> None:
    env = cls()
    env.action_space.seed(0)
    for seed in range(20):
        episode = run_episode(env, seed, lambda obs: env.action_space.sample())
        inputs = sum(1 for obs in episode["observations"][:-1] if obs[-1] == 0)
        assert all(reward == 0.0 for reward in episode["rewards"][:inputs])
        assert all(reward >= 0.0 for reward in episode["rewards"])
        assert 0.0 <= episode["return"] <= 1.0
        assert episode["return"] == pytest.approx(episode["info"]["bit_accuracy"], abs=1e-12)


@pytest.mark.parametrize("cls", CLASSES)
def test_output_phase_observation_carries_no_target_information(cls: type) -> None:
    env = cls()
    respond_only = np.zeros(env.observation_space.shape, dtype=np.float32)
    respond_only[-1] = 1.0
    for seed in range(10):
        episode = run_episode(env, seed, lambda obs: env.action_space.sample())
        outputs = len(episode["info"]["target"])
        output_observations = episode["observations"][-outputs - 1 : -1]
        assert all(np.array_equal(obs, respond_only) for obs in output_observations)
        # Before the output phase the respond flag is never set; the terminal obs is all zeros.
        assert all(obs[-1] == 0 for obs in episode["observations"][: -outputs - 1])
        assert not episode["observations"][-1].any()


def expected_steps(env: gym.Env, reset_info: dict) -> int:
    """Episode length from the task's definition."""
    if isinstance(env, Copy):
        return 2 * reset_info["length"] + 1
    if isinstance(env, RepeatCopy):
        length, repeats = reset_info["length"], reset_info["repeats"]
        return length + 1 + repeats * length + int(env.end_marker)
    k = env.item_length
    return reset_info["num_items"] * (k + 1) + k + 2 + k


@pytest.mark.parametrize(
    ("cls", "kwargs", "steps"),
    [
        (Copy, {"min_length": 5, "max_length": 5}, 11),
        (RepeatCopy, {"min_length": 3, "max_length": 3, "min_repeats": 4, "max_repeats": 4}, 17),
        (
            RepeatCopy,
            {"min_length": 3, "max_length": 3, "min_repeats": 2, "max_repeats": 2},
            3 + 1 + 6 + 1,
        ),
        (AssociativeRecall, {"min_length": 4, "max_length": 4, "item_length": 2}, 4 * 3 + 4 + 2),
    ],
)
def test_fixed_length_gives_exact_episode_length(cls: type, kwargs: dict, steps: int) -> None:
    env = cls(**kwargs)
    for seed in range(5):
        assert (
            len(run_episode(env, seed, lambda obs: env.action_space.sample())["rewards"]) == steps
        )


@pytest.mark.parametrize(
    ("cls", "kwargs", "key", "low", "high"),
    [
        (Copy, {"min_length": 9, "max_length": 12}, "length", 9, 12),
        (RepeatCopy, {"min_length": 2, "max_length": 4}, "length", 2, 4),
        (RepeatCopy, {"min_repeats": 2, "max_repeats": 5}, "repeats", 2, 5),
        (AssociativeRecall, {"min_length": 3, "max_length": 5}, "num_items", 3, 5),
    ],
)
def test_length_ranges_respected_and_covered(
    cls: type, kwargs: dict, key: str, low: int, high: int
) -> None:
    env = cls(**kwargs)
    drawn = set()
    for seed in range(60):
        episode = run_episode(env, seed, lambda obs: env.action_space.sample())
        drawn.add(episode["reset_info"][key])
        assert len(episode["rewards"]) == expected_steps(env, episode["reset_info"])
    assert drawn == set(range(low, high + 1))


@pytest.mark.parametrize("end_marker", [True, False])
def test_repeat_copy_target_is_sequence_repeated_n_times(end_marker: bool) -> None:
    env = RepeatCopy(bits=3, min_repeats=1, max_repeats=5, end_marker=end_marker)
    for seed in range(15):
        obs, info = env.reset(seed=seed)
        length, repeats = info["length"], info["repeats"]
        observations = [obs]
        for _ in range(length):
            observations.append(env.step(env.action_space.sample())[0])
        sequence = np.array([o[:3] for o in observations[:length]], dtype=np.int8)
        delimiter = observations[length]
        assert delimiter[3] == 1.0
        assert delimiter[4] == pytest.approx(repeats / 10.0)  # the count, N / repeat_scale
        target = info["target"]
        np.testing.assert_array_equal(
            target[: repeats * length, :3], np.tile(sequence, (repeats, 1))
        )
        if end_marker:
            assert target.shape == (repeats * length + 1, 4)
            np.testing.assert_array_equal(target[:, 3], [0] * (repeats * length) + [1])
            assert not target[-1, :3].any()
        else:
            assert target.shape == (repeats * length, 3)


def test_repeat_copy_end_marker_matters() -> None:
    # An agent that cycles through the sequence without counting misses the end step.
    env = RepeatCopy(min_repeats=2, max_repeats=2, min_length=2, max_length=2)
    _, info = env.reset(seed=3)
    cycle = np.concatenate([info["target"][:2], info["target"][:2]])
    actions = [np.zeros(5, dtype=np.int8)] * 3 + list(cycle) + [cycle[0]]
    rewards = [env.step(action)[1] for action in actions]
    errors = int(np.count_nonzero(cycle[0] != np.array([0, 0, 0, 0, 1])))
    assert sum(rewards) == pytest.approx(1 - errors / (5 * 5))
    assert sum(rewards) < 1.0


def test_associative_recall_target_is_item_after_query() -> None:
    env = AssociativeRecall(bits=3, min_length=2, max_length=8, item_length=2)
    for seed in range(30):
        obs, info = env.reset(seed=seed)
        observations = [obs]
        while observations[-1][-1] == 0:
            observations.append(env.step(env.action_space.sample())[0])
        items, query = parse_recall_input(observations[:-1], bits=3)
        assert len(items) == info["num_items"]
        assert all(item.shape == (2, 3) for item in items)
        assert len({item.tobytes() for item in items}) == len(items)  # distinct items
        q = info["query_index"]
        assert 0 <= q < len(items) - 1
        np.testing.assert_array_equal(query, items[q])
        np.testing.assert_array_equal(info["target"], items[q + 1])


def test_associative_recall_items_distinct_when_codes_are_scarce() -> None:
    # 1 bit x 2 vectors: only 4 distinct items, all of them used in every episode.
    env = AssociativeRecall(bits=1, min_length=4, max_length=4, item_length=2)
    for seed in range(10):
        obs, _ = env.reset(seed=seed)
        observations = [obs]
        while observations[-1][-1] == 0:
            observations.append(env.step(np.zeros(1, dtype=np.int8))[0])
        items, _ = parse_recall_input(observations[:-1], bits=1)
        assert sorted(item.tobytes() for item in items) == sorted(
            np.array(code, dtype=np.float32).tobytes()
            for code in ([[0], [0]], [[0], [1]], [[1], [0]], [[1], [1]])
        )


@pytest.mark.parametrize("cls", CLASSES)
def test_spaces_do_not_depend_on_lengths(cls: type) -> None:
    # A model trained on short sequences must load and run on longer ones.
    short, long = cls(), cls(min_length=7, max_length=12)
    assert short.observation_space == long.observation_space
    assert short.action_space == long.action_space
    assert short.observation_space.dtype == np.float32
    assert isinstance(short.action_space, gym.spaces.MultiBinary)


def test_action_sizes() -> None:
    assert Copy(bits=5).action_space.n == 5
    assert AssociativeRecall(bits=5).action_space.n == 5
    assert RepeatCopy(bits=5).action_space.n == 6
    assert RepeatCopy(bits=5, end_marker=False).action_space.n == 5
    assert Copy(bits=5).observation_space.shape == (7,)
    assert RepeatCopy(bits=5).observation_space.shape == (8,)
    assert AssociativeRecall(bits=5).observation_space.shape == (8,)


@pytest.mark.parametrize("cls", CLASSES)
def test_render_frames(cls: type) -> None:
    env = cls(render_mode="rgb_array", max_length=3)
    env.reset(seed=0)
    first = env.render()
    assert first.dtype == np.uint8 and first.ndim == 3 and first.shape[2] == 3
    assert first.shape[0] % 16 == 0 and first.shape[1] % 16 == 0
    frames = [first]
    for seed in (0, 1):
        env.reset(seed=seed)
        done = False
        while not done:
            done = env.step(env.action_space.sample())[2]
            frames.append(env.render())
    assert {frame.shape for frame in frames} == {first.shape}  # fixed size per instance
    assert not np.array_equal(frames[0], frames[1])  # the step marker moves


def count_colour(frame: np.ndarray, colour: tuple[int, int, int]) -> int:
    return int(np.all(frame == np.array(colour, dtype=np.uint8), axis=-1).sum())


def test_render_colours_emitted_bits_by_correctness() -> None:
    bright_green, dark_green = (60, 210, 90), (20, 90, 45)
    bright_red, dark_red = (240, 60, 60), (110, 30, 30)
    env = Copy(render_mode="rgb_array", min_length=4, max_length=4)
    oracle = CopyOracle(env)
    run_episode(env, 0, oracle.act)
    right = env.render()
    assert count_colour(right, bright_green) + count_colour(right, dark_green) > 0
    assert count_colour(right, bright_red) + count_colour(right, dark_red) == 0

    _, info = env.reset(seed=0)
    inverted = 1 - info["target"]
    for action in [np.zeros(4, dtype=np.int8)] * 5 + list(inverted):
        env.step(action)
    wrong = env.render()
    assert count_colour(wrong, bright_red) + count_colour(wrong, dark_red) > 0
    assert count_colour(wrong, bright_green) + count_colour(wrong, dark_green) == 0


def test_render_without_render_mode_returns_none() -> None:
    env = Copy()
    env.reset(seed=0)
    with pytest.warns(UserWarning, match="render_mode"):
        assert env.render() is None


def check_without_warnings(check: Callable[[], None]) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check()
    assert [str(warning.message) for warning in caught] == []


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_gymnasium_check_env(env_id: str) -> None:
    env = gym.make(env_id, render_mode="rgb_array")
    check_without_warnings(lambda: gym_check_env(env.unwrapped, skip_render_check=False))


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_sb3_check_env(env_id: str) -> None:
    env = gym.make(env_id)
    check_without_warnings(lambda: sb3_check_env(env.unwrapped, warn=True))


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_make_passes_length_kwargs(env_id: str) -> None:
    env = gym.make(env_id, min_length=9, max_length=9)
    _, info = env.reset(seed=0)
    assert info.get("length", info.get("num_items")) == 9


@pytest.mark.parametrize("cls", CLASSES)
def test_deterministic_for_fixed_seed(cls: type) -> None:
    def trajectory(seed: int) -> list:
        env = cls()
        env.action_space.seed(123)
        steps = []
        for episode_seed in (seed, None, None):  # later resets continue the seeded generator
            obs, info = env.reset(seed=episode_seed)
            steps.append((obs.tobytes(), info["target"].tobytes()))
            done = False
            while not done:
                obs, reward, done, _, _ = env.step(env.action_space.sample())
                steps.append((obs.tobytes(), reward))
        return steps

    assert trajectory(7) == trajectory(7)
    assert trajectory(7) != trajectory(8)


@pytest.mark.parametrize("cls", CLASSES)
def test_step_misuse_is_an_error(cls: type) -> None:
    env = cls()
    with pytest.raises(RuntimeError, match="reset"):
        env.step(env.action_space.sample())
    env.reset(seed=0)
    with pytest.raises(ValueError, match="shape"):
        while True:  # input-phase actions are ignored; the shape is checked where it is read
            env.step(np.zeros(env.action_space.n + 1, dtype=np.int8))
    env.reset(seed=0)
    done = False
    while not done:
        done = env.step(env.action_space.sample())[2]
    with pytest.raises(RuntimeError, match="reset"):
        env.step(env.action_space.sample())


@pytest.mark.parametrize(
    ("cls", "kwargs", "message"),
    [
        (Copy, {"bits": 0}, "bits must be an integer >= 1"),
        (Copy, {"bits": 2.5}, "bits must be an integer"),
        (Copy, {"bits": True}, "bits must be an integer"),
        (Copy, {"min_length": 0}, "min_length must be an integer >= 1"),
        (Copy, {"min_length": 5, "max_length": 4}, "min_length must be <= max_length"),
        (Copy, {"render_mode": "human"}, "render_mode must be None or one of"),
        (RepeatCopy, {"min_repeats": 0}, "min_repeats must be an integer >= 1"),
        (RepeatCopy, {"min_repeats": 3, "max_repeats": 2}, "min_repeats must be <= max_repeats"),
        (RepeatCopy, {"max_repeats": 11}, "repeat_scale must be a finite number >= max_repeats"),
        (RepeatCopy, {"repeat_scale": float("nan")}, "repeat_scale must be"),
        (RepeatCopy, {"end_marker": "yes"}, "end_marker must be True or False"),
        (RepeatCopy, {"max_length": 0}, "max_length must be an integer >= 1"),
        (AssociativeRecall, {"min_length": 1}, "min_length must be an integer >= 2"),
        (AssociativeRecall, {"item_length": 0}, "item_length must be an integer >= 1"),
        (AssociativeRecall, {"min_length": 6, "max_length": 3}, "min_length must be <="),
        (
            AssociativeRecall,
            {"bits": 1, "item_length": 2, "max_length": 5},
            r"max_length must be <= 2\*\*\(bits \* item_length\) = 4",
        ),
    ],
)
def test_bad_arguments(cls: type, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        cls(**kwargs)
