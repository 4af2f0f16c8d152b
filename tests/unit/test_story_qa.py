"""Tests of memrl/StoryQA-v0: an oracle that reads only the observed words answers every story,
rewards, seeding, the memoryless bound of the docstring, rendering and the checkers."""

from __future__ import annotations

import warnings
from collections import Counter

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import memrl  # noqa: F401  (registers the memrl/ environments)
from memrl.envs.story_qa import StoryQA

TASKS = ["single_fact", "two_facts", "deduction"]


def answer_from_text(words: list[str]) -> str:
    """Answer the question at the end of ``words`` from the story's sentences alone."""
    text = " ".join(words)
    *sentences, question = [s.split() for s in text.replace("?", "? .").split(" .") if s.strip()]
    place, holder, object_place, kind, fears = {}, {}, {}, {}, {}
    for s in sentences:
        if s[1] in ("moved", "went", "travelled"):
            place[s[0]] = s[-1]
        elif s[1:3] == ["picked", "up"]:
            holder[s[-1]] = s[0]
        elif s[1] == "dropped":
            del holder[s[-1]]
            object_place[s[-1]] = place.get(s[0])
        elif s[1:3] == ["is", "a"]:
            kind[s[0]] = {"sheep": "sheep", "wolf": "wolves", "mouse": "mice", "cat": "cats"}[s[3]]
        elif s[1:4] == ["are", "afraid", "of"]:
            fears[s[0]] = s[4]
    if question[0] == "what":  # what is NAME afraid of ?
        return fears[kind[question[2]]]
    if question[2] == "the":  # where is the OBJECT ?
        thing = question[3]
        return place[holder[thing]] if thing in holder else object_place[thing]
    return place[question[2]]  # where is NAME ?


def play(env: StoryQA, seed: int, answer=None) -> tuple[list[str], list[float], dict, dict]:
    """Reset with ``seed``, read the word of every observation, answer with ``answer(words)``
    (the oracle by default); random actions before the answer."""
    vocabulary = env.unwrapped.vocabulary
    obs, reset_info = env.reset(seed=seed)
    env.action_space.seed(seed)
    words, rewards, terminated, info = [], [], False, {}
    while not terminated:
        assert obs.sum() == 1.0
        words.append(vocabulary[int(obs.argmax())])
        assert info.get("words", words[-1]) == words[-1]
        action = (answer or answer_from_text)(words) if words[-1] == "?" else None
        if action is not None:
            action = vocabulary.index(action)
        else:
            action = env.action_space.sample()
        obs, reward, terminated, truncated, info = env.step(action)
        rewards.append(reward)
        assert not truncated
    assert not obs.any()
    return words, rewards, reset_info, info


@pytest.mark.parametrize("task", TASKS)
def test_oracle_answers_every_story_from_its_text(task: str) -> None:
    kwargs_options = [{}, {"num_sentences": 2}, {"num_sentences": 12, "num_people": 8}]
    for kwargs in kwargs_options:
        env = StoryQA(task=task, **kwargs)
        for seed in range(100):
            words, rewards, reset_info, info = play(env, seed)
            assert rewards == [0.0] * (len(words) - 1) + [1.0]
            assert info["is_success"] is True and info["given"] == reset_info["answer"]
            assert len(words) == reset_info["num_words"]
            assert words.count(".") == env.num_sentences and words[-1] == "?"
            assert reset_info["words"] == words[0]
            assert env.vocabulary[reset_info["answer_index"]] == reset_info["answer"]


@pytest.mark.parametrize("task", TASKS)
def test_wrong_answer_pays_zero_and_the_episode_ends(task: str) -> None:
    env = StoryQA(task=task)
    words, rewards, _, info = play(env, 0, answer=lambda words: ".")
    assert rewards == [0.0] * len(words)
    assert info["is_success"] is False and info["given"] == "."
    with pytest.raises(RuntimeError, match="terminated"):
        env.step(0)


@pytest.mark.parametrize(
    ("task", "bound"), [("single_fact", 0.25), ("two_facts", 0.25), ("deduction", 0.25)]
)
def test_memoryless_bound_of_the_docstring(task: str, bound: float) -> None:
    # At the answer a memoryless agent always sees "?": its best is the most frequent answer.
    env = StoryQA(task=task)
    answers = Counter(env.reset(seed=seed)[1]["answer"] for seed in range(2000))
    best = max(answers.values()) / 2000
    assert best == pytest.approx(bound, abs=0.04)
    assert len(answers) == 4


def test_seeding_fixes_the_story() -> None:
    first, second = StoryQA(task="two_facts"), StoryQA(task="two_facts")
    assert play(first, 5)[0] == play(second, 5)[0]
    assert play(first, 5)[0] != play(first, 6)[0]


def test_spaces_do_not_depend_on_the_task() -> None:
    first = StoryQA()
    for task in TASKS:
        env = StoryQA(task=task, num_sentences=9, num_people=2, num_places=6)
        assert env.observation_space == first.observation_space
        assert env.action_space == first.action_space
    assert StoryQA().action_space.n == len(StoryQA().vocabulary) == 41


def test_render_shows_the_story_so_far() -> None:
    env = StoryQA(render_mode="rgb_array")
    env.reset(seed=0)
    frames = [env.render()]
    for _ in range(5):
        env.step(0)
        frames.append(env.render())
    assert {frame.shape for frame in frames} == {frames[0].shape}
    assert frames[0].dtype == np.uint8 and frames[0].shape[0] % 16 == 0
    # More words read, more text pixels.
    assert (frames[-1] != frames[0]).any() and frames[-1].sum() > frames[0].sum()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"task": "counting"}, "task must be one of"),
        ({"task": "deduction", "num_sentences": 1}, "num_sentences must be an integer >= 2"),
        ({"num_people": 9}, "num_people must be an integer in \\[1, 8\\]"),
        ({"num_places": 0}, "num_places must be an integer in \\[1, 6\\]"),
    ],
)
def test_bad_arguments(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        StoryQA(**kwargs)


@pytest.mark.parametrize("task", TASKS)
def test_check_env(task: str) -> None:
    env = gym.make("memrl/StoryQA-v0", task=task, render_mode="rgb_array")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gym_check_env(env.unwrapped, skip_render_check=False)
        sb3_check_env(gym.make("memrl/StoryQA-v0", task=task).unwrapped, warn=True)
    assert [str(warning.message) for warning in caught] == []
