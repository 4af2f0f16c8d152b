"""bAbI-style story generation (Weston et al., 2015) for :class:`memrl.envs.story_qa.StoryQA`.

A story is a list of sentences and a question, each a list of lower-case words (names
capitalised) from the fixed :data:`VOCABULARY`, and the one-word answer. Generation draws
from a ``numpy.random.Generator`` only, so a seed fixes the story.

Tasks:

- ``single_fact``: "Mary went to the kitchen ." sentences; "where is Mary ?" asks for the
  place a person went to last.
- ``two_facts``: people move, pick up and drop objects; "where is the milk ?" asks for the
  place of the person holding it, or where it was dropped.
- ``deduction``: "sheep are afraid of wolves ." and "Mary is a sheep ." facts; "what is Mary
  afraid of ?" asks for what the person's kind is afraid of.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "KINDS",
    "MOVES",
    "OBJECTS",
    "PEOPLE",
    "PLACES",
    "TASKS",
    "VOCABULARY",
    "Story",
    "generate_story",
    "min_sentences",
]

TASKS = ("single_fact", "two_facts", "deduction")
PEOPLE = ("Mary", "John", "Daniel", "Sandra", "Bill", "Fred", "Julie", "Emily")
PLACES = ("kitchen", "garden", "hallway", "bathroom", "bedroom", "office")
OBJECTS = ("football", "milk", "apple")
MOVES = ("moved", "went", "travelled")
# (singular, plural) of the deduction task's kinds.
KINDS = (("sheep", "sheep"), ("wolf", "wolves"), ("mouse", "mice"), ("cat", "cats"))
_FUNCTION_WORDS = (
    "to",
    "the",
    "picked",
    "up",
    "dropped",
    "where",
    "what",
    "is",
    "are",
    "a",
    "afraid",
    "of",
)
_KIND_WORDS = tuple(dict.fromkeys(word for pair in KINDS for word in pair))
VOCABULARY: tuple[str, ...] = (
    ".",
    "?",
    *MOVES,
    *_FUNCTION_WORDS,
    *PEOPLE,
    *PLACES,
    *OBJECTS,
    *_KIND_WORDS,
)


@dataclass(frozen=True)
class Story:
    """One generated story: ``sentences`` and ``question`` (lists of words) and ``answer``."""

    sentences: tuple[tuple[str, ...], ...]
    question: tuple[str, ...]
    answer: str

    @property
    def words(self) -> list[str]:
        """Every word shown, in order: the sentences, then the question (ending with "?")."""
        return [word for sentence in (*self.sentences, self.question) for word in sentence]


def min_sentences(task: str) -> int:
    """The fewest story sentences ``task`` needs to ask an answerable question."""
    return 1 if task == "single_fact" else 2


def generate_story(
    task: str, rng: np.random.Generator, num_sentences: int, num_people: int, num_places: int
) -> Story:
    """Draw one story of ``num_sentences`` sentences from ``rng``.

    Arguments are assumed checked by the caller (``StoryQA``): ``task`` in :data:`TASKS`,
    ``min_sentences(task) <= num_sentences``, ``1 <= num_people <= len(PEOPLE)``,
    ``1 <= num_places <= len(PLACES)``.
    """
    people, places = PEOPLE[:num_people], PLACES[:num_places]
    if task == "single_fact":
        return _single_fact(rng, num_sentences, people, places)
    if task == "two_facts":
        while True:  # rejection: a story where no object's place is known asks nothing
            story = _two_facts(rng, num_sentences, people, places)
            if story is not None:
                return story
    return _deduction(rng, num_sentences, people)


def _pick(rng: np.random.Generator, options: tuple[str, ...] | list[str]) -> str:
    return options[int(rng.integers(len(options)))]


def _move(rng: np.random.Generator, person: str, place: str) -> tuple[str, ...]:
    return (person, _pick(rng, MOVES), "to", "the", place, ".")


def _single_fact(
    rng: np.random.Generator, count: int, people: tuple[str, ...], places: tuple[str, ...]
) -> Story:
    location: dict[str, str] = {}
    sentences = []
    for _ in range(count):
        person, place = _pick(rng, people), _pick(rng, places)
        location[person] = place
        sentences.append(_move(rng, person, place))
    asked = _pick(rng, sorted(location, key=people.index))
    return Story(tuple(sentences), ("where", "is", asked, "?"), location[asked])


def _two_facts(
    rng: np.random.Generator, count: int, people: tuple[str, ...], places: tuple[str, ...]
) -> Story | None:
    location: dict[str, str] = {}  # person -> place, once known
    holder: dict[str, str] = {}  # object -> person holding it
    dropped_at: dict[str, str | None] = {}  # object -> place it was dropped (None: unknown)
    sentences = []
    for _ in range(count):
        free = [o for o in OBJECTS if o not in holder]
        events = ["move"] + (["pick"] if free else []) + (["drop"] if holder else [])
        event = _pick(rng, events)
        if event == "move":
            person, place = _pick(rng, people), _pick(rng, places)
            location[person] = place
            sentences.append(_move(rng, person, place))
        elif event == "pick":
            thing, person = _pick(rng, free), _pick(rng, people)
            holder[thing] = person
            dropped_at.pop(thing, None)
            sentences.append((person, "picked", "up", "the", thing, "."))
        else:
            thing = _pick(rng, sorted(holder, key=OBJECTS.index))
            person = holder.pop(thing)
            dropped_at[thing] = location.get(person)
            sentences.append((person, "dropped", "the", thing, "."))
    known = {thing: location.get(person) for thing, person in holder.items()}
    known.update(dropped_at)
    answerable = [thing for thing in OBJECTS if known.get(thing) is not None]
    if not answerable:
        return None
    asked = _pick(rng, answerable)
    return Story(tuple(sentences), ("where", "is", "the", asked, "?"), str(known[asked]))


def _deduction(rng: np.random.Generator, count: int, people: tuple[str, ...]) -> Story:
    kinds = len(KINDS)
    # Each kind fears one other kind; each person is of one kind. Both fixed per story, so
    # repeated facts never contradict each other.
    fears = (np.arange(kinds) + rng.integers(1, kinds, size=kinds)) % kinds
    kind_of = rng.integers(kinds, size=len(people))
    asked = int(rng.integers(len(people)))

    def fear_fact(kind: int) -> tuple[str, ...]:
        return (KINDS[kind][1], "are", "afraid", "of", KINDS[int(fears[kind])][1], ".")

    def kind_fact(person: int) -> tuple[str, ...]:
        return (people[person], "is", "a", KINDS[int(kind_of[person])][0], ".")

    needed = [kind_fact(asked), fear_fact(int(kind_of[asked]))]
    facts = [fear_fact(k) for k in range(kinds)] + [kind_fact(p) for p in range(len(people))]
    others = [facts[int(i)] for i in rng.integers(len(facts), size=count - len(needed))]
    sentences = needed + others
    order = rng.permutation(len(sentences))
    answer = KINDS[int(fears[kind_of[asked]])][1]
    return Story(
        tuple(sentences[int(i)] for i in order),
        ("what", "is", people[asked], "afraid", "of", "?"),
        answer,
    )
