"""bAbI-style story questions as a Gymnasium environment (Weston et al., 2015; the task family
of the Memory Network and MNM papers)."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from memrl.checks import check_choice, check_int
from memrl.envs.stories import PEOPLE, PLACES, TASKS, VOCABULARY, Story, generate_story
from memrl.envs.stories import min_sentences as _min_sentences

_BACKGROUND = (24, 24, 32)
_TEXT = (210, 210, 210)
_CURRENT = (255, 215, 0)
_RIGHT = (60, 210, 90)
_WRONG = (240, 60, 60)
_LINE = 16
_WIDTH = 480


class StoryQA(gym.Env[np.ndarray, np.int64]):
    """Read a short story word by word, then answer a question about it with one word.

    ## Description

    Procedurally generated stories in the style of the bAbI tasks (Weston et al., 2015), the
    benchmark of the Memory Network (Sukhbaatar et al., 2015) and MNM (Munkhdalai et al.,
    2019) papers. Each step shows one word; the story's ``num_sentences`` sentences are
    followed by a question, and at its last word ("?") the agent answers with one word.
    ``task`` is one of:

    - ``single_fact``: "Mary went to the kitchen . John moved to the garden . Mary travelled
      to the office . where is Mary ?" -> office (where the person went last).
    - ``two_facts``: people move, pick up and drop objects. "John moved to the garden . John
      picked up the milk . where is the milk ?" -> garden (the place of the person holding the
      object, or where it was dropped).
    - ``deduction``: "sheep are afraid of wolves . Mary is a sheep . what is Mary afraid of
      ?" -> wolves (what the person's kind is afraid of; every kind fears one other kind).

    Stories are drawn from the environment's seeded ``np_random``: a seed fixes them.

    ## Vocabulary

    ``env.unwrapped.vocabulary`` lists the words in one-hot order (41 words)::

        . ? moved went travelled to the picked up dropped where what is are a afraid of
        Mary John Daniel Sandra Bill Fred Julie Emily
        kitchen garden hallway bathroom bedroom office football milk apple
        sheep wolf wolves mouse mice cat cats

    ## Observation Space

    ``Box(0, 1, (41,), float32)``: the one-hot code of the step's word. After the answer the
    (terminal) observation is all zeros.

    ## Action Space

    ``Discrete(41)``: a word of the vocabulary. Only the action taken at the question's last
    word ("?") counts, as the answer; earlier actions are ignored.

    ## Rewards

    +1 for the right answer, 0 otherwise (every step before the answer pays 0).

    A memoryless agent (one that sees only the current word) sees "?" whenever it answers,
    so it can do no better than always giving the most frequent answer: by symmetry of the
    generator that is right with probability 1 / ``num_places`` for ``single_fact`` and
    ``two_facts`` (0.25 with the defaults) and 1/4 for ``deduction`` (the answer is one of
    the four kinds, uniformly). ``tests/unit/test_story_qa.py`` measures these bounds.

    ## Termination and Truncation

    The episode terminates at the answer, after as many steps as the story and question have
    words. It is never truncated. ``step`` after termination raises RuntimeError.

    Every info holds ``words``: the word of the observation it comes with ("" for the
    terminal one), for replay labels. The reset info also holds ``task``, ``answer`` (the
    expected word), ``answer_index`` (its index in the vocabulary) and ``num_words``; the
    final info adds ``given`` (the word answered) and ``is_success``.

    ## Registered Variants

    - ``memrl/StoryQA-v0``: ``single_fact`` with the defaults; other tasks through
      ``gymnasium.make("memrl/StoryQA-v0", task="deduction")``.

    ## Arguments

    - ``task`` (one of "single_fact", "two_facts", "deduction"; default "single_fact").
    - ``num_sentences`` (int, default 4): story sentences before the question; at least 1 for
      single_fact and 2 for the other tasks.
    - ``num_people`` (int in [1, 8], default 4): how many people the story may name.
    - ``num_places`` (int in [1, 6], default 4): how many places (not used by deduction).
    - ``render_mode`` (None or "rgb_array"): "rgb_array" makes ``render()`` return an
      [H, W, 3] uint8 frame with the story read so far, one sentence a line, the current word
      in yellow, and the answer once given (green if right, red if wrong).
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["rgb_array"], "render_fps": 4}

    def __init__(
        self,
        task: str = "single_fact",
        num_sentences: int = 4,
        num_people: int = 4,
        num_places: int = 4,
        render_mode: str | None = None,
    ) -> None:
        self.task = check_choice("task", task, TASKS)
        self.num_sentences = check_int(
            "num_sentences", num_sentences, minimum=_min_sentences(self.task)
        )
        self.num_people = check_int("num_people", num_people, minimum=1, maximum=len(PEOPLE))
        self.num_places = check_int("num_places", num_places, minimum=1, maximum=len(PLACES))
        self.render_mode = check_choice("render_mode", render_mode, (None, "rgb_array"))
        self.vocabulary: tuple[str, ...] = VOCABULARY
        self._index = {word: i for i, word in enumerate(VOCABULARY)}
        size = len(VOCABULARY)
        self.observation_space = spaces.Box(0.0, 1.0, shape=(size,), dtype=np.float32)
        self.action_space = spaces.Discrete(size)
        self._story: Story | None = None
        self._words: list[str] = []
        self._t = 0
        self._given: str | None = None

    def _observation(self, t: int) -> np.ndarray:
        obs = np.zeros(len(self.vocabulary), dtype=np.float32)
        if t < len(self._words):
            obs[self._index[self._words[t]]] = 1.0
        return obs

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Draw a story; the first observation is its first word."""
        super().reset(seed=seed)
        self._story = generate_story(
            self.task, self.np_random, self.num_sentences, self.num_people, self.num_places
        )
        self._words = self._story.words
        self._t = 0
        self._given = None
        info = {
            "words": self._words[0],
            "task": self.task,
            "answer": self._story.answer,
            "answer_index": self._index[self._story.answer],
            "num_words": len(self._words),
        }
        return self._observation(0), info

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Show the next word; at the question's "?" read ``action`` as the answer."""
        if self._story is None:
            raise RuntimeError("call reset() before step()")
        if self._given is not None:
            raise RuntimeError("the episode has terminated; call reset() to start a new one")
        if self._t < len(self._words) - 1:
            self._t += 1
            return self._observation(self._t), 0.0, False, False, {"words": self._words[self._t]}
        answer = check_int("action", action, minimum=0, maximum=len(self.vocabulary) - 1)
        self._given = self.vocabulary[answer]
        right = self._given == self._story.answer
        info = {
            "words": "",
            "answer": self._story.answer,
            "given": self._given,
            "is_success": right,
        }
        return self._observation(len(self._words)), float(right), True, False, info

    def render(self) -> np.ndarray | None:
        """[H, W, 3] uint8: the story read so far and the answer; fixed size per instance."""
        if self.render_mode is None:
            gym.logger.warn(
                "render() was called without a render_mode; pass render_mode='rgb_array' "
                "to the constructor or gymnasium.make"
            )
            return None
        from PIL import Image, ImageDraw, ImageFont

        # Header, sentences, question, answer: one line each; multiples of 16 for video.
        height = 16 * math.ceil(((self.num_sentences + 3) * _LINE + 8) / 16)
        image = Image.new("RGB", (_WIDTH, height), _BACKGROUND)
        draw = ImageDraw.Draw(image)
        font = ImageFont.load_default()
        draw.text((6, 4), f"StoryQA {self.task}", fill=_TEXT, font=font)
        if self._story is not None:
            lines = [*self._story.sentences, self._story.question]
            shown = 0
            for row, line in enumerate(lines, start=1):
                x = 6
                for word in line:
                    if shown > self._t:
                        break
                    colour = _CURRENT if shown == self._t and self._given is None else _TEXT
                    draw.text((x, 4 + row * _LINE), word, fill=colour, font=font)
                    x += draw.textlength(word + " ", font=font)
                    shown += 1
            if self._given is not None:
                right = self._given == self._story.answer
                text = f"answer: {self._given}" + (
                    "" if right else f" (right: {self._story.answer})"
                )
                draw.text(
                    (6, 4 + (len(lines) + 1) * _LINE),
                    text,
                    fill=_RIGHT if right else _WRONG,
                    font=font,
                )
        return np.asarray(image, dtype=np.uint8).copy()
