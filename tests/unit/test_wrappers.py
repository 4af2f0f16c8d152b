"""Wrappers, the wrapper registry, make() for each kind of id, and make_vec's episode starts."""

from __future__ import annotations

import importlib.util
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env
from stable_baselines3.common.preprocessing import is_image_space
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecEnv

from memrl.envs import (
    ActionSubset,
    FlattenObs,
    HistoryWindow,
    MiniGridObs,
    OneHotImage,
    apply_wrapper,
    apply_wrappers,
    env_kind,
    make,
    make_popgym,
    make_vec,
    wrapper_names,
)
from memrl.envs.wrappers import draw_vector_frame, resolve_popgym_id

# ------------------------------------------------------------------------------------- MiniGrid


def test_minigrid_default_view_and_spaces():
    env = make("MiniGrid-MemoryS7-v0")
    assert isinstance(env, MiniGridObs)
    space = env.observation_space
    assert isinstance(space, spaces.Dict) and set(space.spaces) == {"image", "direction"}
    assert space["image"].shape == (7, 7, 3) and space["image"].dtype == np.uint8
    assert space["direction"] == spaces.Discrete(4)
    obs, _ = env.reset(seed=0)
    assert "mission" not in obs and space.contains(obs)


@pytest.mark.parametrize("key", ["view_size", "agent_view_size"])
def test_minigrid_view_size_from_kwargs(key):
    env = make("MiniGrid-MemoryS9-v0", **{key: 3})
    assert env.observation_space["image"].shape == (3, 3, 3)
    assert env.unwrapped.agent_view_size == 3  # passed to the constructor, not re-cropped
    obs, _ = env.reset(seed=0)
    assert obs["image"].shape == (3, 3, 3)
    for _ in range(5):
        obs, *_ = env.step(env.action_space.sample())
        assert env.observation_space.contains(obs)


def test_minigrid_wrapper_on_a_raw_env_uses_view_size_wrapper_and_agrees_with_make():
    raw = gym.make("MiniGrid-MemoryS9-v0")
    wrapped = MiniGridObs(raw, view_size=3)
    made = make("MiniGrid-MemoryS9-v0", view_size=3)
    a, _ = wrapped.reset(seed=5)
    b, _ = made.reset(seed=5)
    for action in [1, 1, 2, 0, 2, 2]:
        np.testing.assert_array_equal(a["image"], b["image"])
        assert a["direction"] == b["direction"]
        a, *_ = wrapped.step(action)
        b, *_ = made.step(action)


def test_minigrid_image_is_not_an_sb3_picture_and_multi_input_policy_trains():
    from stable_baselines3 import PPO

    env = make("MiniGrid-MemoryS9-v0", view_size=3)
    # Not [0, 255]-bounded: SB3 flattens it instead of building NatureCNN (impossible at 3x3).
    assert not is_image_space(env.observation_space["image"])
    model = PPO(
        "MultiInputPolicy", env, n_steps=32, batch_size=32, n_epochs=1, seed=0, device="cpu"
    )
    model.learn(64)
    obs, _ = env.reset(seed=0)
    action, _ = model.predict(obs)
    assert env.action_space.contains(int(action))


@pytest.mark.parametrize("bad", [2, 4, 0, 3.0, True])
def test_minigrid_bad_view_size(bad):
    with pytest.raises(ValueError, match="view_size"):
        make("MiniGrid-MemoryS7-v0", view_size=bad)
    with pytest.raises(ValueError, match="view_size"):
        MiniGridObs(gym.make("MiniGrid-MemoryS7-v0"), view_size=bad)


def test_minigrid_view_sizes_that_disagree():
    with pytest.raises(ValueError, match="disagree"):
        make("MiniGrid-MemoryS7-v0", view_size=3, agent_view_size=5)
    with pytest.raises(ValueError, match="disagree"):
        make("MiniGrid-MemoryS7-v0", view_size=3, wrappers=[{"name": "minigrid", "view_size": 5}])


def test_minigrid_wrapper_named_in_wrappers_sets_view_size_and_is_not_applied_twice():
    env = make("MiniGrid-MemoryS7-v0", wrappers=[{"name": "minigrid", "view_size": 5}])
    assert env.observation_space["image"].shape == (5, 5, 3)
    assert not isinstance(env.env, MiniGridObs)


def test_minigrid_wrapper_refuses_other_envs():
    with pytest.raises(ValueError, match="MiniGrid environment"):
        MiniGridObs(gym.make("CartPole-v1"))


def test_minigrid_full_view_frame():
    env = make("MiniGrid-MemoryS9-v0", view_size=3, render_mode="rgb_array")
    env.reset(seed=0)
    frame = env.render()
    # The full grid: 9 x 9 cells of MiniGrid's default 32-pixel tiles, not the 3x3 view.
    assert frame.shape == (9 * 32, 9 * 32, 3) and frame.dtype == np.uint8


def test_flatten_after_minigrid_gives_float32_vector():
    env = make("MiniGrid-MemoryS7-v0", view_size=3, wrappers=["flatten"])
    assert isinstance(env, FlattenObs)
    assert env.observation_space.shape == (4 + 27,) and env.observation_space.dtype == np.float32
    obs, _ = env.reset(seed=0)
    assert obs.dtype == np.float32 and env.observation_space.contains(obs)


# --------------------------------------------------------------------------------------- POPGym


@pytest.mark.parametrize(
    "name", ["popgym-RepeatPreviousEasy-v0", "RepeatPreviousEasy-v0", "RepeatPreviousEasy"]
)
def test_popgym_names_with_or_without_prefix(name):
    assert resolve_popgym_id(name) == "popgym-RepeatPreviousEasy-v0"
    assert env_kind(name) == "popgym"
    assert make(name).observation_space == spaces.Box(0.0, 1.0, (4,), np.float32)


def test_popgym_unknown_name_names_close_matches():
    with pytest.raises(ValueError, match="popgym-RepeatPreviousEasy-v0"):
        resolve_popgym_id("RepeatPreviusEasy")


def test_popgym_tuple_observation_is_flattened_one_hot():
    env = make_popgym("AutoencodeEasy")
    inner_space = env.unwrapped.observation_space
    assert isinstance(inner_space, spaces.Tuple)
    assert env.observation_space == spaces.Box(0.0, 1.0, (2 + 4,), np.float32)
    obs, _ = env.reset(seed=0)
    mode, card = env.unwrapped.make_obs(env.unwrapped.deck["system"][-1])
    expected = np.zeros(6, dtype=np.float32)
    expected[mode] = 1.0
    expected[2 + card] = 1.0
    np.testing.assert_array_equal(obs, expected)


def test_popgym_flatten_false_keeps_spaces_sb3_accepts_and_flattens_the_others():
    assert make_popgym("RepeatPreviousEasy", flatten=False).observation_space == spaces.Discrete(4)
    assert isinstance(make_popgym("AutoencodeEasy", flatten=False).observation_space, spaces.Box)


def test_popgym_infos_are_not_shared_between_calls():
    # CountRecall returns its live `counts` array in every info; the wrapper copies it.
    env = make_popgym("CountRecallEasy")
    _, reset_info = env.reset(seed=0)
    before = reset_info["counts"].copy()
    _, _, _, _, step_info = env.step(0)
    np.testing.assert_array_equal(reset_info["counts"], before)
    assert step_info["counts"] is not reset_info["counts"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gym_check_env(env, skip_render_check=True)


def test_popgym_previous_action_follows_the_task_flag_or_the_argument():
    minesweeper = make_popgym("MineSweeperEasy")  # obs_requires_prev_action = True
    # Discrete(3) observation, MultiDiscrete([4, 4]) action: 3 + (4 + 4).
    assert minesweeper.observation_space.shape == (3 + 8,)
    obs, _ = minesweeper.reset(seed=0)
    np.testing.assert_array_equal(obs[3:], 0.0)  # no action yet
    obs, *_ = minesweeper.step(np.array([2, 1]))
    np.testing.assert_array_equal(obs[3:], [0, 0, 1, 0, 0, 1, 0, 0])
    repeat = make_popgym("RepeatPreviousEasy", previous_action=True)
    assert repeat.observation_space.shape == (4 + 4,)
    assert make_popgym("MineSweeperEasy", previous_action=False).observation_space.shape == (3,)


def test_popgym_frames_native_and_drawn():
    cartpole = make("PositionOnlyCartPoleEasy", render_mode="rgb_array")
    cartpole.reset(seed=0)
    frame = cartpole.render()
    assert frame.ndim == 3 and frame.shape[2] == 3 and frame.dtype == np.uint8
    cards = make("RepeatPreviousEasy", render_mode="rgb_array")
    assert cards.render_mode == "rgb_array"
    assert "rgb_array" in cards.metadata["render_modes"]
    cards.reset(seed=0)
    first = cards.render()
    cards.step(0)
    second = cards.render()
    assert first.dtype == np.uint8 and first.ndim == 3 and first.shape == second.shape
    assert not np.array_equal(first, second)  # the action row lit up
    assert make("RepeatPreviousEasy").render_mode is None


def test_popgym_wrapper_named_in_wrappers_sets_its_arguments():
    env = make("RepeatPreviousEasy", wrappers=[{"name": "popgym", "previous_action": True}])
    assert env.observation_space.shape == (8,)
    with pytest.raises(ValueError, match="accepted: flatten, previous_action"):
        make("RepeatPreviousEasy", wrappers=[{"name": "popgym", "colour": 1}])


def test_draw_vector_frame_shape_and_colours():
    frame = draw_vector_frame(
        [np.array([0.0, 1.0]), np.ones(10)], [(255, 0, 0), (0, 0, 200)], cell=4
    )
    assert frame.shape == (2 * 6 + 2, 10 * 6 + 2, 3) and frame.dtype == np.uint8
    assert tuple(frame[2, 2 + 6]) == (255, 0, 0)  # value 1, first row, second cell
    assert tuple(frame[2, 2]) == (38, 0, 0)  # value 0 is dimmed to 15%
    # A long row wraps: 70 values at 32 per line take 3 lines, the frame stays 32 cells wide.
    wrapped = draw_vector_frame([np.ones(70), np.zeros(1)], [(0, 255, 0), (9, 9, 9)], cell=4)
    assert wrapped.shape == ((3 + 1) * 6 + 2, 32 * 6 + 2, 3)
    assert tuple(wrapped[2 + 2 * 6, 2 + 5 * 6]) == (0, 255, 0)  # value 69: line 3, column 6
    assert tuple(wrapped[2 + 2 * 6, 2 + 6 * 6]) == (24, 24, 24)  # past the end: background


# -------------------------------------------------------------------------------- one-hot image


def test_one_hot_image_codes_each_channel_of_each_cell_by_hand():
    env = make("MiniGrid-MemoryS9-v0", view_size=3, wrappers=["one_hot_image"])
    assert env.observation_space["image"] == spaces.Box(0, 1, (3, 3, 21), np.uint8)
    assert env.observation_space["direction"] == spaces.Discrete(4)
    indices = np.zeros((3, 3, 3), dtype=np.uint8)
    indices[0, 0] = (5, 4, 0)  # key (object 5), yellow (colour 4), state 0
    indices[2, 1] = (10, 5, 3)  # the top index of every channel
    bits = env.observation({"image": indices, "direction": 2})
    assert bits["direction"] == 2
    expected = np.zeros((3, 3, 21), dtype=np.uint8)
    expected[..., [0, 11, 17]] = 1  # every other cell: object 0, colour 0, state 0
    expected[0, 0] = 0
    expected[0, 0, [5, 11 + 4, 17 + 0]] = 1
    expected[2, 1] = 0
    expected[2, 1, [10, 11 + 5, 17 + 3]] = 1
    np.testing.assert_array_equal(bits["image"], expected)


def test_one_hot_image_tells_key_from_ball_in_every_observation_and_sb3_accepts_it():
    env = make("MiniGrid-MemoryS9-v0", view_size=3, wrappers=["one_hot_image"])
    observation, _ = env.reset(seed=3)
    for _ in range(20):
        inner = env.unwrapped.gen_obs()["image"]
        assert observation["image"].sum(axis=-1).tolist() == [[3] * 3] * 3
        decoded = [
            np.argmax(observation["image"][..., a:b], axis=-1)
            for a, b in [(0, 11), (11, 17), (17, 21)]
        ]
        np.testing.assert_array_equal(np.stack(decoded, axis=-1), inner)
        observation, *_ = env.step(env.action_space.sample())
    # Bounds [0, 1]: not an SB3 picture, so it is flattened, not scaled by 1/255.
    assert not is_image_space(env.observation_space["image"], check_channels=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SB3: the 3-D Box "seems to be an image" (expected)
        sb3_check_env(env)


@pytest.mark.parametrize(
    ("space", "problem"),
    [
        (spaces.Box(0, 1, (3,)), "Dict observation space with an 'image' Box"),
        (spaces.Dict({"image": spaces.Discrete(3)}), "with an 'image' Box"),
        (spaces.Dict({"image": spaces.Box(0, 1, (3, 3, 3))}), "integer 'image'"),
        (spaces.Dict({"image": spaces.Box(0, 9, (9,), np.uint8)}), r"shape \(H, W, C\)"),
        (spaces.Dict({"image": spaces.Box(1, 9, (3, 3, 2), np.uint8)}), "from 0"),
        (
            spaces.Dict({"image": spaces.Box(0, np.arange(18).reshape(3, 3, 2), dtype=np.uint8)}),
            "bounds differ between cells",
        ),
    ],
)
def test_one_hot_image_names_what_is_wrong_with_the_space(space, problem):
    env = gym.make("CartPole-v1")
    env.observation_space = space
    with pytest.raises(ValueError, match=problem):
        OneHotImage(env)


# -------------------------------------------------------------------------------- action subset


def test_action_subset_maps_the_agents_actions_to_the_kept_inner_ones():
    env = make(
        "MiniGrid-MemoryS7-v0", view_size=3, wrappers=[{"name": "action_subset", "actions": [2, 0]}]
    )
    assert isinstance(env, ActionSubset) and env.action_space == spaces.Discrete(2)
    env.reset(seed=0)
    inner = env.unwrapped
    (x, y), direction = inner.agent_pos, inner.agent_dir
    assert direction == 0  # MiniGrid's Memory rooms start the agent facing east
    env.step(0)  # inner 2: forward
    assert (tuple(inner.agent_pos), inner.agent_dir) == ((x + 1, y), 0)
    env.step(1)  # inner 0: turn left
    assert (tuple(inner.agent_pos), inner.agent_dir) == ((x + 1, y), 3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SB3: the 3-D Box "seems to be an image" (expected)
        sb3_check_env(env)


def test_action_subset_honours_a_discrete_space_that_does_not_start_at_zero():
    env = ActionSubset(gym.make("CartPole-v1"), actions=[1])
    assert env.action(0) == 1
    env.unwrapped.action_space = spaces.Discrete(3, start=5)
    assert ActionSubset(env.unwrapped, actions=[7, 5]).action(0) == 7


@pytest.mark.parametrize("actions", [[], [0, 0], [2], [-1], [0.5], [True], "01", 1])
def test_action_subset_rejects_bad_actions_naming_the_inner_space(actions):
    with pytest.raises(
        ValueError, match=r"actions must be distinct ints in 0\.\.1 .*Discrete\(2\)"
    ):
        ActionSubset(gym.make("CartPole-v1"), actions=actions)


def test_action_subset_needs_a_discrete_action_space():
    with pytest.raises(ValueError, match="needs a Discrete action space"):
        ActionSubset(gym.make("Pendulum-v1"), actions=[0])


# ------------------------------------------------------------------------------------- registry


def test_wrapper_names():
    assert wrapper_names() == sorted(
        [
            "minigrid",
            "one_hot_image",
            "popgym",
            "flatten",
            "action_subset",
            "previous_action",
            "history_window",
            "time_limit",
        ]
    )


def test_unknown_wrapper_lists_names():
    with pytest.raises(ValueError, match="known wrappers: action_subset, flatten, history_window"):
        apply_wrapper(gym.make("CartPole-v1"), "histroy_window", k=3)


def test_wrapper_bad_arguments_list_accepted_ones():
    with pytest.raises(ValueError, match="accepted: k"):
        apply_wrapper(gym.make("CartPole-v1"), "history_window", size=3)
    with pytest.raises(ValueError, match="max_episode_steps"):
        apply_wrapper(gym.make("CartPole-v1"), "time_limit", max_episode_steps=0)


def test_bad_wrapper_spec():
    with pytest.raises(ValueError, match="bad wrapper spec"):
        apply_wrappers(gym.make("CartPole-v1"), [{"k": 3}])


def test_wrapper_specs_apply_in_order():
    env = make(
        "CartPole-v1",
        wrappers=[
            {"name": "time_limit", "max_episode_steps": 5},
            {"name": "history_window", "k": 3},
        ],
    )
    assert isinstance(env, HistoryWindow) and env.observation_space.shape == (3, 5)
    env.reset(seed=0)
    steps = 0
    truncated = terminated = False
    while not (terminated or truncated):
        _, _, terminated, truncated, _ = env.step(steps % 2)
        steps += 1
    assert steps <= 5


# ------------------------------------------------------------------------------------- make()


def _memrl_module_exists(env_id: str) -> bool:
    module = gym.spec(env_id).entry_point.split(":")[0]
    return importlib.util.find_spec(module) is not None


@pytest.mark.parametrize(
    ("env_id", "kind"),
    [
        ("memrl/TMaze-v0", "memrl"),
        ("MiniGrid-MemoryS7-v0", "minigrid"),
        ("popgym-RepeatFirstEasy-v0", "popgym"),
        ("CartPole-v1", "gymnasium"),
    ],
)
def test_make_each_kind(env_id, kind):
    if kind == "memrl" and not _memrl_module_exists(env_id):
        pytest.skip(f"{env_id}: its module is not written yet")
    assert env_kind(env_id) == kind
    env = make(env_id, render_mode="rgb_array")
    obs, _ = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    frame = env.render()
    assert frame.ndim == 3 and frame.shape[2] == 3 and frame.dtype == np.uint8
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sb3_check_env(env)


def test_unknown_id_names_close_matches():
    with pytest.raises(ValueError, match="MiniGrid-MemoryS9-v0"):
        make("MiniGrid-MemoryS8-v0")
    with pytest.raises(ValueError, match="memrl/TMaze-v0"):
        make("memrl/TMase-v0")
    with pytest.raises(ValueError, match="unknown environment id"):
        make("NoSuchThingAtAll")


def test_view_size_only_for_minigrid():
    with pytest.raises(ValueError, match="only applies to MiniGrid"):
        make("CartPole-v1", view_size=3)


def test_make_passes_max_episode_steps():
    env = make("popgym-RepeatPreviousEasy-v0", max_episode_steps=3)
    env.reset(seed=0)
    results = [env.step(0) for _ in range(3)]
    assert results[-1][3] and not any(r[3] for r in results[:-1])


# --------------------------------------------------------------------------------- make_vec()


def _episode_start_env(vec_env: str = "dummy", seed: int = 7, n_envs: int = 2) -> VecEnv:
    # A window of 3 shows a reset unmistakably: only its last row is valid (mask 0, 0, 1).
    return make_vec(
        "popgym-RepeatPreviousEasy-v0",
        n_envs=n_envs,
        seed=seed,
        vec_env=vec_env,
        wrappers=[
            {"name": "time_limit", "max_episode_steps": 3},
            {"name": "history_window", "k": 3},
        ],
    )


def test_make_vec_types_and_validation():
    venv = _episode_start_env()
    assert isinstance(venv, DummyVecEnv) and venv.num_envs == 2
    assert venv.observation_space.shape == (3, 5)
    with pytest.raises(ValueError, match="n_envs"):
        make_vec("CartPole-v1", n_envs=0)
    with pytest.raises(ValueError, match="vec_env"):
        make_vec("CartPole-v1", n_envs=1, vec_env="ray")
    with pytest.raises(ValueError, match="unknown environment id"):
        make_vec("CartPol-v1", n_envs=1)


def test_make_vec_episode_start_semantics_match_a_single_env():
    """After a done, the returned obs is the next episode's first; the last is in the info."""
    venv = _episode_start_env(seed=7)
    single = make(
        "popgym-RepeatPreviousEasy-v0",
        wrappers=[
            {"name": "time_limit", "max_episode_steps": 3},
            {"name": "history_window", "k": 3},
        ],
    )
    obs = venv.reset()
    expected, _ = single.reset(seed=7)  # env 0 gets seed + 0
    np.testing.assert_array_equal(obs[0], expected)
    np.testing.assert_array_equal(obs[:, :, 0], [[0, 0, 1], [0, 0, 1]])
    for t in range(3):
        obs, rewards, dones, infos = venv.step(np.array([t % 4, 0]))
        expected, reward, _, truncated, _ = single.step(t % 4)
        assert rewards[0] == pytest.approx(reward)
        if t < 2:
            assert not dones.any()
            np.testing.assert_array_equal(obs[0], expected)
    assert dones.all() and truncated
    # Same step: the terminal observation is in the info, the obs is the new episode's first.
    np.testing.assert_array_equal(infos[0]["terminal_observation"], expected)
    assert infos[0]["TimeLimit.truncated"]
    np.testing.assert_array_equal(infos[0]["terminal_observation"][:, 0], [1, 1, 1])
    np.testing.assert_array_equal(obs[:, :, 0], [[0, 0, 1], [0, 0, 1]])
    expected_reset, _ = single.reset()
    np.testing.assert_array_equal(obs[0], expected_reset)
    # Monitor (outermost) logs the episode.
    assert infos[0]["episode"]["l"] == 3


def test_make_vec_is_reproducible_for_a_seed():
    def rollout(seed: int) -> tuple[np.ndarray, np.ndarray]:
        venv = _episode_start_env(seed=seed)
        venv.action_space.seed(seed)
        observations = [venv.reset()]
        rewards = []
        for _ in range(10):
            actions = np.array([venv.action_space.sample() for _ in range(venv.num_envs)])
            obs, reward, _, _ = venv.step(actions)
            observations.append(obs)
            rewards.append(reward)
        return np.stack(observations), np.stack(rewards)

    obs_a, rew_a = rollout(3)
    obs_b, rew_b = rollout(3)
    obs_c, _ = rollout(4)
    np.testing.assert_array_equal(obs_a, obs_b)
    np.testing.assert_array_equal(rew_a, rew_b)
    assert not np.array_equal(obs_a, obs_c)
    # Each copy gets its own seed: the two copies do not mirror each other.
    assert not np.array_equal(obs_a[:, 0], obs_a[:, 1])


def test_make_vec_subproc_matches_dummy():
    dummy = _episode_start_env("dummy", seed=11)
    subproc = _episode_start_env("subproc", seed=11)
    try:
        assert isinstance(subproc, SubprocVecEnv)
        np.testing.assert_array_equal(dummy.reset(), subproc.reset())
        for t in range(4):
            actions = np.array([t % 4, (t + 1) % 4])
            a = dummy.step(actions)
            b = subproc.step(actions)
            np.testing.assert_array_equal(a[0], b[0])
            np.testing.assert_array_equal(a[1], b[1])
    finally:
        subproc.close()
