"""Environments of runs and of suites (``envs/<suite>.yaml``): EnvConfig, SuiteConfig."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from memrl.config.reader import Reader, describe

__all__ = ["EnvConfig", "SuiteConfig", "SuiteEntry"]


def _check_env(reader: Reader, env_id: str, wrappers: list[Any]) -> None:
    from memrl.envs import env_kind, wrapper_names

    try:
        env_kind(env_id)
    except ValueError as error:
        reader.fail("id", str(error))
    names = wrapper_names()
    for index, spec in enumerate(wrappers):
        name = spec.get("name") if isinstance(spec, Mapping) else spec
        if not isinstance(name, str) or name not in names:
            reader.fail(
                f"wrappers[{index}]",
                f"unknown wrapper {describe(spec)}; a wrapper is a name or a mapping "
                f"{{name: <wrapper>, <argument>: <value>}} with names: {', '.join(names)}",
            )


def _wrappers(reader: Reader) -> list[Any]:
    value = reader.data.get("wrappers")
    if value is None:
        return []
    if not isinstance(value, list):
        reader.fail("wrappers", f"expected a list of wrapper specs, got {describe(value)}")
    return copy.deepcopy(value)


@dataclass(frozen=True)
class EnvConfig:
    """The environment of a run: what :func:`memrl.envs.make_vec` gets, and how it is judged.

    ``solved_at`` (optional): mean evaluation return at or above which the env counts as
    solved; an episode counts as a success when the env reports ``is_success`` or, if it does
    not, when its return reaches ``solved_at``.
    """

    id: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    wrappers: list[Any] = field(default_factory=list)
    solved_at: float | None = None
    eval_episodes: int = 100

    @classmethod
    def from_dict(cls, data: Any, source: str, prefix: str = "env") -> EnvConfig:
        keys = [f.name for f in dataclasses.fields(cls)]
        reader = Reader(source, prefix, data, keys)
        env_id = reader.string("id")
        wrappers = _wrappers(reader)
        _check_env(reader, env_id, wrappers)
        return cls(
            id=env_id,
            kwargs=reader.mapping("kwargs"),
            wrappers=wrappers,
            solved_at=reader.number("solved_at", None),
            eval_episodes=reader.integer("eval_episodes", 100, minimum=1),
        )

    def to_dict(self) -> dict[str, Any]:
        return copy.deepcopy(dataclasses.asdict(self))

    @property
    def label(self) -> str:
        """A short human name: the id, its kwargs and its wrappers' names, e.g.
        ``TMaze-v0 corridor_length=5`` or ``MiniGrid-MemoryS9-v0 view_size=3 +one_hot_image``.

        The wrappers are named so that one env with and without them gets two bench
        directories (:attr:`slug`); their arguments are left out to keep tables readable."""
        from memrl.envs.wrappers import wrapper_spec_names

        name = self.id.removeprefix("memrl/")
        extras = [f"{k}={v}" for k, v in self.kwargs.items()]
        wrappers = [f"+{wrapper}" for wrapper in wrapper_spec_names(self.wrappers)]
        return " ".join([name, *extras, *wrappers])

    @property
    def slug(self) -> str:
        """A file-name-safe version of :attr:`label`."""
        return "".join(
            c if c.isalnum() or c in "-_.=+" else "-" for c in self.label.replace(" ", "_")
        )


@dataclass(frozen=True)
class SuiteEntry:
    """One environment of a suite and its step budget; ``env.solved_at`` is required here."""

    env: EnvConfig
    steps: int

    @classmethod
    def from_dict(cls, data: Any, source: str, prefix: str) -> SuiteEntry:
        """A suite entry: the keys of :class:`EnvConfig` plus ``steps``, side by side."""
        env_keys = [f.name for f in dataclasses.fields(EnvConfig)]
        reader = Reader(source, prefix, data, [*env_keys, "steps"])
        steps = reader.integer("steps", minimum=1)
        env_data = {k: v for k, v in reader.data.items() if k != "steps"}
        env = EnvConfig.from_dict(env_data, source, prefix)
        if env.solved_at is None:
            reader.fail("solved_at", "missing (required)")
        return cls(env=env, steps=steps)


@dataclass(frozen=True)
class SuiteConfig:
    """An environment suite (``envs/<suite>.yaml``)."""

    name: str
    description: str
    envs: tuple[SuiteEntry, ...]
    source: str = ""

    @classmethod
    def from_dict(cls, data: Any, source: str) -> SuiteConfig:
        reader = Reader(source, "", data, ("name", "description", "envs"))
        entries = reader.data.get("envs")
        if not isinstance(entries, list) or not entries:
            reader.fail("envs", f"expected a non-empty list of entries, got {describe(entries)}")
        return cls(
            name=reader.string("name"),
            description=str(reader.data.get("description") or ""),
            envs=tuple(
                SuiteEntry.from_dict(entry, source, f"envs[{index}]")
                for index, entry in enumerate(entries)
            ),
            source=source,
        )
