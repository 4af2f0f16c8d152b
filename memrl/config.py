"""Agent presets, environment suites and run configurations: frozen dataclasses loaded from YAML.

Three kinds of files:

- an **agent preset** (``agents/<name>.yaml``): the memory core and its arguments, the algorithm
  and its hyperparameters (SB3's names), ``n_envs``, ``seq_len``, ``device``. Loaded into an
  :class:`AgentConfig`.
- an **environment suite** (``envs/<suite>.yaml``): environment ids with kwargs, wrappers, a
  step budget and a ``solved_at`` threshold each. Loaded into a :class:`SuiteConfig`.
- a **run configuration** (``config.yaml`` in every run directory): the resolved agent, the
  environment, the step budget and the seed; :class:`RunConfig`. Loading it back and training
  again with the same seed reproduces the run exactly.

Every value is checked when the file is loaded: an unknown key, a wrong type or an impossible
value raises :class:`ConfigError`, whose message names the file, the key and what is accepted.
Nothing is evaluated: schedules are structured YAML, e.g.
``learning_rate: {schedule: linear, start: 1.0e-3, end: 1.0e-4}``.

Overrides (the command's ``--set key=value``) use dotted keys (``memory_kwargs.memory_slots=32``);
the value is parsed by ``yaml.safe_load`` and validated like the file.

Presets are looked up in the installed package (``memrl/_presets/agents``, ``.../envs``: the
wheel ships them there) and then in the source checkout (``agents/`` and ``envs/`` beside the
``memrl`` package, as in an editable install).
"""

from __future__ import annotations

import copy
import dataclasses
import importlib.resources
import inspect
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "AgentConfig",
    "ConfigError",
    "EnvConfig",
    "GumbelSchedule",
    "LinearSchedule",
    "RunConfig",
    "SuiteConfig",
    "SuiteEntry",
    "agent_presets",
    "apply_overrides",
    "env_defaults",
    "load_agent",
    "load_run_config",
    "load_suite",
    "parse_override",
    "preset_dirs",
    "suite_files",
    "to_yaml",
]

ALGORITHMS = ("memory_ppo", "ppo")
DEVICES = ("auto", "cpu", "cuda")
# Keys that only mean something for a policy with a memory core.
MEMORY_ONLY_KEYS = (
    "memory",
    "memory_kwargs",
    "shared_memory",
    "seq_len",
    "meta_loss_coef",
    "gumbel",
)


class ConfigError(ValueError):
    """A bad configuration value: ``"<source>: <key>: <what is wrong and what is accepted>"``.

    Attributes:
        source: the file (or ``--set``) the value came from.
        key: the dotted key, e.g. ``memory_kwargs.memory_slots`` or ``envs[1].steps``.
    """

    def __init__(self, source: str, key: str, problem: str) -> None:
        self.source, self.key, self.problem = source, key, problem
        where = f"{source}: {key}" if key else source
        super().__init__(f"{where}: {problem}")


# --- value checks ---------------------------------------------------------------------------


class _Reader:
    """Reads typed values out of one mapping, raising ConfigError with source and key."""

    def __init__(self, source: str, prefix: str, data: Any, accepted: Iterable[str]) -> None:
        self.source, self.prefix = source, prefix
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            self.fail("", f"expected a mapping of keys to values, got {_show(data)}")
        self.data = dict(data)
        accepted = list(accepted)
        for key in self.data:
            if key not in accepted:
                self.fail(str(key), f"unknown key; accepted keys: {', '.join(accepted)}", top=True)

    def key(self, key: str) -> str:
        return f"{self.prefix}.{key}" if self.prefix and key else (self.prefix or key)

    def fail(self, key: str, problem: str, top: bool = False) -> None:
        raise ConfigError(self.source, self.key(key), problem)

    def has(self, key: str) -> bool:
        return key in self.data

    def string(self, key: str, default: Any = ..., choices: Sequence[str] | None = None) -> Any:
        value = self._get(key, default)
        if value is None and default is None:
            return None
        if not isinstance(value, str) or not value:
            self.fail(key, f"expected a non-empty string, got {_show(value)}")
        if choices is not None and value not in choices:
            self.fail(key, f"expected one of {', '.join(choices)}; got {value!r}")
        return value

    def integer(self, key: str, default: Any = ..., minimum: int | None = None) -> Any:
        value = self._get(key, default)
        if value is None and default is None:
            return None
        number = _as_int(value)
        if number is None:
            self.fail(key, f"expected an integer, got {_show(value)}")
        if minimum is not None and number < minimum:
            self.fail(key, f"expected an integer >= {minimum}, got {number}")
        return number

    def number(
        self,
        key: str,
        default: Any = ...,
        minimum: float | None = None,
        positive: bool = False,
    ) -> Any:
        value = self._get(key, default)
        if value is None and default is None:
            return None
        number = _as_float(value)
        if number is None:
            self.fail(key, f"expected a number, got {_show(value)}")
        if positive and not number > 0:
            self.fail(key, f"expected a number > 0, got {number}")
        if minimum is not None and number < minimum:
            self.fail(key, f"expected a number >= {minimum}, got {number}")
        return number

    def boolean(self, key: str, default: Any = ...) -> bool:
        value = self._get(key, default)
        if not isinstance(value, bool):
            self.fail(key, f"expected true or false, got {_show(value)}")
        return value

    def mapping(self, key: str) -> dict[str, Any]:
        value = self._get(key, None)
        if value is None:
            return {}
        if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
            self.fail(key, f"expected a mapping with string keys, got {_show(value)}")
        return copy.deepcopy(dict(value))

    def _get(self, key: str, default: Any) -> Any:
        if key in self.data:
            return self.data[key]
        if default is ...:
            self.fail(key, "missing (required)")
        return default


def _show(value: Any) -> str:
    text = repr(value)
    text = text if len(text) <= 60 else text[:57] + "..."
    return f"{text} ({type(value).__name__})"


def _as_float(value: Any) -> float | None:
    """A finite float from a YAML number or a numeric string (PyYAML reads ``1e-3`` as a string:
    YAML 1.1 wants a dot in the mantissa). Parsing, not evaluation."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def _as_int(value: Any) -> int | None:
    """An int from an integer, an integral float (``1.0e5``) or such a numeric string."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    number = _as_float(value)
    if number is None or not number.is_integer():
        return None
    return int(number)


# --- schedules ------------------------------------------------------------------------------


@dataclass(frozen=True)
class LinearSchedule:
    """Linear decay from ``start`` to ``end`` over the first ``end_fraction`` of training.

    YAML: ``{schedule: linear, start: 1.0e-3, end: 1.0e-4, end_fraction: 1.0}``.
    """

    start: float
    end: float
    end_fraction: float = 1.0

    def to_sb3(self) -> Callable[[float], float]:
        """SB3's schedule object (a function of the remaining progress, 1 -> 0)."""
        from stable_baselines3.common.utils import LinearSchedule as SB3LinearSchedule

        return SB3LinearSchedule(self.start, self.end, self.end_fraction)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schedule": "linear",
            "start": self.start,
            "end": self.end,
            "end_fraction": self.end_fraction,
        }


def _number_or_schedule(reader: _Reader, key: str, default: float) -> float | LinearSchedule:
    value = reader.data.get(key, default)
    if isinstance(value, Mapping):
        inner = _Reader(
            reader.source, reader.key(key), value, ("schedule", "start", "end", "end_fraction")
        )
        inner.string("schedule", choices=("linear",))
        return LinearSchedule(
            start=inner.number("start", minimum=0.0),
            end=inner.number("end", minimum=0.0),
            end_fraction=_fraction(inner, "end_fraction"),
        )
    number = _as_float(value)
    if number is None or number < 0:
        reader.fail(
            key,
            "expected a number >= 0 or a schedule mapping "
            f"{{schedule: linear, start: <number>, end: <number>}}, got {_show(value)}",
        )
    return number


def _fraction(reader: _Reader, key: str) -> float:
    value = reader.number(key, 1.0)
    if not 0 < value <= 1:
        reader.fail(key, f"expected a number in (0, 1], got {value}")
    return value


@dataclass(frozen=True)
class GumbelSchedule:
    """Temperature of hard (Gumbel-softmax) reads: ``max(floor, tau0 * 2**(-steps/half_life))``.

    Applied by :class:`memrl.sb3.GumbelTemperatureCallback`.
    """

    tau0: float = 1.0
    floor: float = 0.5
    half_life: float = 50_000

    @classmethod
    def from_dict(cls, reader: _Reader, key: str) -> GumbelSchedule | None:
        value = reader.data.get(key)
        if value is None:
            return None
        inner = _Reader(reader.source, reader.key(key), value, ("tau0", "floor", "half_life"))
        schedule = cls(
            tau0=inner.number("tau0", 1.0, positive=True),
            floor=inner.number("floor", 0.5, positive=True),
            half_life=inner.number("half_life", 50_000, positive=True),
        )
        if schedule.floor > schedule.tau0:
            inner.fail("floor", f"must not exceed tau0 ({schedule.tau0}), got {schedule.floor}")
        return schedule

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# --- agents ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class AgentConfig:
    """An agent: algorithm, memory core and hyperparameters (SB3's names and meanings).

    ``algorithm`` is ``"memory_ppo"`` (:class:`memrl.sb3.MemoryPPO` with a memory core) or
    ``"ppo"`` (SB3's PPO without memory, the reference); the keys in ``MEMORY_ONLY_KEYS``
    are only accepted with ``memory_ppo``. ``seq_len`` must divide ``n_steps`` and
    ``batch_size`` must be a multiple of ``seq_len`` and at most ``n_steps * n_envs``.
    """

    name: str
    description: str = ""
    algorithm: str = "memory_ppo"
    memory: str | None = "lstm"
    memory_kwargs: dict[str, Any] = field(default_factory=dict)
    shared_memory: bool = True
    net_arch: list[int] | dict[str, list[int]] | None = None
    n_envs: int = 8
    n_steps: int = 128
    batch_size: int = 256
    n_epochs: int = 4
    learning_rate: float | LinearSchedule = 3e-4
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip_range: float | LinearSchedule = 0.2
    clip_range_vf: float | None = None
    normalize_advantage: bool = True
    ent_coef: float = 0.0
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    target_kl: float | None = None
    seq_len: int | None = None
    meta_loss_coef: float = 1.0
    gumbel: GumbelSchedule | None = None
    device: str = "auto"

    @property
    def uses_memory(self) -> bool:
        return self.algorithm == "memory_ppo"

    @classmethod
    def from_dict(cls, data: Any, source: str, default_name: str | None = None) -> AgentConfig:
        """Validate a mapping (e.g. a parsed preset file) into an AgentConfig."""
        keys = [f.name for f in dataclasses.fields(cls)]
        reader = _Reader(source, "", data, keys)
        algorithm = reader.string("algorithm", "memory_ppo", choices=ALGORITHMS)
        if algorithm == "ppo":
            for key in MEMORY_ONLY_KEYS:
                if reader.has(key):
                    reader.fail(key, "only accepted with algorithm: memory_ppo (ppo has no memory)")
        name = reader.string("name", default_name)
        if name is None:
            reader.fail("name", "missing (required)")
        memory = None
        memory_kwargs: dict[str, Any] = {}
        if algorithm == "memory_ppo":
            memory = reader.string("memory", "lstm")
            memory_kwargs = reader.mapping("memory_kwargs")
            _check_core(reader, memory, memory_kwargs)
        n_steps = reader.integer("n_steps", 128, minimum=1)
        n_envs = reader.integer("n_envs", 8, minimum=1)
        batch_size = reader.integer("batch_size", 256, minimum=2 if algorithm == "ppo" else 1)
        seq_len = reader.integer("seq_len", None, minimum=1) if algorithm == "memory_ppo" else None
        if seq_len is not None and n_steps % seq_len != 0:
            reader.fail("seq_len", f"must divide n_steps ({n_steps}), got {seq_len}")
        chunk = seq_len if seq_len is not None else n_steps
        if algorithm == "memory_ppo" and batch_size % chunk != 0:
            reader.fail(
                "batch_size",
                f"must be a multiple of seq_len ({chunk}{'' if seq_len else ', = n_steps'}): a "
                f"minibatch is made of whole sequences; got {batch_size}",
            )
        if batch_size > n_steps * n_envs:
            reader.fail(
                "batch_size",
                f"must be at most n_steps * n_envs = {n_steps * n_envs} (one rollout), "
                f"got {batch_size}",
            )
        gumbel = GumbelSchedule.from_dict(reader, "gumbel")
        if gumbel is not None and memory_kwargs.get("read_addressing") != "gumbel":
            reader.fail(
                "gumbel",
                "a temperature schedule needs memory_kwargs.read_addressing: gumbel "
                "(set gumbel: null to drop it)",
            )
        return cls(
            name=name,
            description=reader.string("description", "") if reader.data.get("description") else "",
            algorithm=algorithm,
            memory=memory,
            memory_kwargs=memory_kwargs,
            shared_memory=reader.boolean("shared_memory", True),
            net_arch=_net_arch(reader),
            n_envs=n_envs,
            n_steps=n_steps,
            batch_size=batch_size,
            n_epochs=reader.integer("n_epochs", 4, minimum=1),
            learning_rate=_number_or_schedule(reader, "learning_rate", 3e-4),
            gamma=_unit_interval(reader, "gamma", 0.99),
            gae_lambda=_unit_interval(reader, "gae_lambda", 0.95),
            clip_range=_number_or_schedule(reader, "clip_range", 0.2),
            clip_range_vf=reader.number("clip_range_vf", None, positive=True),
            normalize_advantage=reader.boolean("normalize_advantage", True),
            ent_coef=reader.number("ent_coef", 0.0, minimum=0.0),
            vf_coef=reader.number("vf_coef", 0.5, minimum=0.0),
            max_grad_norm=reader.number("max_grad_norm", 0.5, positive=True),
            target_kl=reader.number("target_kl", None, positive=True),
            seq_len=seq_len,
            meta_loss_coef=reader.number("meta_loss_coef", 1.0, minimum=0.0)
            if algorithm == "memory_ppo"
            else 1.0,
            gumbel=gumbel,
            device=reader.string("device", "auto", choices=DEVICES),
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain YAML-safe data that :meth:`from_dict` reads back to an equal config."""
        data: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            if not self.uses_memory and f.name in MEMORY_ONLY_KEYS:
                continue
            value = getattr(self, f.name)
            if isinstance(value, LinearSchedule | GumbelSchedule):
                value = value.to_dict()
            data[f.name] = copy.deepcopy(value)
        return data

    def sb3_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for the SB3 algorithm (without env, seed, device, logging)."""

        def schedule(value: float | LinearSchedule) -> Any:
            return value.to_sb3() if isinstance(value, LinearSchedule) else value

        kwargs: dict[str, Any] = dict(
            learning_rate=schedule(self.learning_rate),
            n_steps=self.n_steps,
            batch_size=self.batch_size,
            n_epochs=self.n_epochs,
            gamma=self.gamma,
            gae_lambda=self.gae_lambda,
            clip_range=schedule(self.clip_range),
            clip_range_vf=self.clip_range_vf,
            normalize_advantage=self.normalize_advantage,
            ent_coef=self.ent_coef,
            vf_coef=self.vf_coef,
            max_grad_norm=self.max_grad_norm,
            target_kl=self.target_kl,
        )
        policy_kwargs: dict[str, Any] = {}
        if self.net_arch is not None:
            policy_kwargs["net_arch"] = copy.deepcopy(self.net_arch)
        if self.uses_memory:
            kwargs.update(seq_len=self.seq_len, meta_loss_coef=self.meta_loss_coef)
            policy_kwargs.update(
                memory=self.memory,
                memory_kwargs=copy.deepcopy(self.memory_kwargs),
                shared_memory=self.shared_memory,
            )
        kwargs["policy_kwargs"] = policy_kwargs
        return kwargs


def _unit_interval(reader: _Reader, key: str, default: float) -> float:
    value = reader.number(key, default)
    if not 0 <= value <= 1:
        reader.fail(key, f"expected a number in [0, 1], got {value}")
    return value


def _net_arch(reader: _Reader) -> list[int] | dict[str, list[int]] | None:
    value = reader.data.get("net_arch")
    if value is None:
        return None

    def layers(v: Any) -> list[int] | None:
        if not isinstance(v, list):
            return None
        sizes = [_as_int(x) for x in v]
        return sizes if all(s is not None and s > 0 for s in sizes) else None  # type: ignore[misc]

    if isinstance(value, Mapping) and set(value) == {"pi", "vf"}:
        pi, vf = layers(value["pi"]), layers(value["vf"])
        if pi is not None and vf is not None:
            return {"pi": pi, "vf": vf}
    elif (sizes := layers(value)) is not None:
        return sizes
    reader.fail(
        "net_arch",
        "expected a list of layer sizes (e.g. [64, 64]) or {pi: [...], vf: [...]}, "
        f"got {_show(value)}",
    )
    raise AssertionError  # unreachable: fail raises


def _check_core(reader: _Reader, memory: str, memory_kwargs: dict[str, Any]) -> None:
    from memrl.memory import core_class, core_names

    if memory not in core_names():
        reader.fail(
            "memory", f"unknown core {memory!r}; registered cores: {', '.join(core_names())}"
        )
    parameters = inspect.signature(core_class(memory).__init__).parameters
    accepted = [p for p in parameters if p not in ("self", "input_size")]
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return
    for key in memory_kwargs:
        if key not in accepted:
            reader.fail(
                f"memory_kwargs.{key}",
                f"not an argument of core {memory!r}; accepted: {', '.join(accepted)}",
            )


# --- environments ---------------------------------------------------------------------------


def _check_env(reader: _Reader, env_id: str, wrappers: list[Any]) -> None:
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
                f"unknown wrapper {_show(spec)}; a wrapper is a name or a mapping "
                f"{{name: <wrapper>, <argument>: <value>}} with names: {', '.join(names)}",
            )


def _wrappers(reader: _Reader) -> list[Any]:
    value = reader.data.get("wrappers")
    if value is None:
        return []
    if not isinstance(value, list):
        reader.fail("wrappers", f"expected a list of wrapper specs, got {_show(value)}")
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
        reader = _Reader(source, prefix, data, keys)
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
        """A short human name: the id and its kwargs, e.g. ``TMaze-v0 corridor_length=5``."""
        name = self.id.removeprefix("memrl/")
        extras = [f"{k}={v}" for k, v in self.kwargs.items()]
        return " ".join([name, *extras])

    @property
    def slug(self) -> str:
        """A file-name-safe version of :attr:`label`."""
        return "".join(
            c if c.isalnum() or c in "-_.=" else "-" for c in self.label.replace(" ", "_")
        )


@dataclass(frozen=True)
class SuiteEntry:
    """One environment of a suite, with its step budget and ``solved_at`` threshold."""

    id: str
    steps: int
    solved_at: float
    kwargs: dict[str, Any] = field(default_factory=dict)
    wrappers: list[Any] = field(default_factory=list)
    eval_episodes: int = 100

    def env_config(self) -> EnvConfig:
        return EnvConfig(
            id=self.id,
            kwargs=copy.deepcopy(self.kwargs),
            wrappers=copy.deepcopy(self.wrappers),
            solved_at=self.solved_at,
            eval_episodes=self.eval_episodes,
        )


@dataclass(frozen=True)
class SuiteConfig:
    """An environment suite (``envs/<suite>.yaml``)."""

    name: str
    description: str
    envs: tuple[SuiteEntry, ...]
    source: str = ""

    @classmethod
    def from_dict(cls, data: Any, source: str) -> SuiteConfig:
        reader = _Reader(source, "", data, ("name", "description", "envs"))
        entries = reader.data.get("envs")
        if not isinstance(entries, list) or not entries:
            reader.fail("envs", f"expected a non-empty list of entries, got {_show(entries)}")
        parsed = []
        for index, entry in enumerate(entries):
            inner = _Reader(
                source,
                f"envs[{index}]",
                entry,
                ("id", "kwargs", "wrappers", "steps", "solved_at", "eval_episodes"),
            )
            env_id = inner.string("id")
            wrappers = _wrappers(inner)
            _check_env(inner, env_id, wrappers)
            parsed.append(
                SuiteEntry(
                    id=env_id,
                    steps=inner.integer("steps", minimum=1),
                    solved_at=inner.number("solved_at"),
                    kwargs=inner.mapping("kwargs"),
                    wrappers=wrappers,
                    eval_episodes=inner.integer("eval_episodes", 100, minimum=1),
                )
            )
        return cls(
            name=reader.string("name"),
            description=str(reader.data.get("description") or ""),
            envs=tuple(parsed),
            source=source,
        )


# --- runs -----------------------------------------------------------------------------------

RUN_KEYS = ("agent", "env", "steps", "seed", "checkpoint_every", "eval_every", "curve_episodes")


@dataclass(frozen=True)
class RunConfig:
    """Everything a training run depends on (written to ``<run dir>/config.yaml``).

    Attributes:
        agent: the resolved agent.
        env: the environment.
        steps: training budget in environment steps (all parallel envs together).
        seed: seeds the model, the training envs (``seed + i``) and the evaluation envs.
        checkpoint_every: steps between checkpoints (taken between rollouts).
        eval_every: steps between the evaluations of the learning curve (``curve.csv``).
        curve_episodes: episodes of each learning-curve evaluation.
    """

    agent: AgentConfig
    env: EnvConfig
    steps: int
    seed: int = 0
    checkpoint_every: int = 25_000
    eval_every: int = 10_000
    curve_episodes: int = 20

    @classmethod
    def from_dict(cls, data: Any, source: str) -> RunConfig:
        reader = _Reader(source, "", data, RUN_KEYS)
        agent_data = reader.data.get("agent")
        if not isinstance(agent_data, Mapping):
            reader.fail("agent", f"expected the agent's mapping, got {_show(agent_data)}")
        try:
            agent = AgentConfig.from_dict(agent_data, source)
        except ConfigError as error:
            raise ConfigError(source, f"agent.{error.key}", error.problem) from None
        return cls(
            agent=agent,
            env=EnvConfig.from_dict(reader.data.get("env"), source),
            steps=reader.integer("steps", minimum=1),
            seed=reader.integer("seed", 0, minimum=0),
            checkpoint_every=reader.integer("checkpoint_every", 25_000, minimum=1),
            eval_every=reader.integer("eval_every", 10_000, minimum=1),
            curve_episodes=reader.integer("curve_episodes", 20, minimum=1),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "agent": self.agent.to_dict(),
            "env": self.env.to_dict(),
            "steps": self.steps,
            "seed": self.seed,
            "checkpoint_every": self.checkpoint_every,
            "eval_every": self.eval_every,
            "curve_episodes": self.curve_episodes,
        }

    def replace(self, **changes: Any) -> RunConfig:
        return dataclasses.replace(self, **changes)


def to_yaml(data: Mapping[str, Any], header: str = "") -> str:
    """YAML text of plain data, keys in the given order, with an optional ``#`` header."""
    text = yaml.safe_dump(dict(data), sort_keys=False, default_flow_style=None, width=100)
    comment = "".join(f"# {line}".rstrip() + "\n" for line in header.splitlines())
    return comment + text


# --- files and overrides ----------------------------------------------------------------------


def _read_yaml(path: Path) -> Any:
    try:
        with path.open(encoding="utf-8") as file:
            return yaml.safe_load(file)
    except yaml.YAMLError as error:
        raise ConfigError(str(path), "", f"not valid YAML: {error}") from None


def parse_override(text: str) -> tuple[str, Any]:
    """``"a.b=value"`` -> ``("a.b", yaml.safe_load("value"))``."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise ConfigError(
            "--set",
            text,
            "expected key=value with a dotted key, e.g. memory_kwargs.memory_slots=32",
        )
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as error:
        raise ConfigError("--set", key, f"value is not valid YAML: {error}") from None
    return key, value


def apply_overrides(data: Mapping[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """A deep copy of ``data`` with each ``key=value`` override set (dotted keys nest)."""
    result = copy.deepcopy(dict(data))
    for text in overrides:
        key, value = parse_override(text)
        parts = key.split(".")
        target = result
        for depth, part in enumerate(parts[:-1]):
            child = target.get(part)
            if child is None:
                child = target[part] = {}
            if not isinstance(child, dict):
                raise ConfigError(
                    "--set", key, f"{'.'.join(parts[: depth + 1])} is not a mapping ({child!r})"
                )
            target = child
        target[parts[-1]] = value
    return result


def preset_dirs(kind: str) -> list[Path]:
    """Where presets of ``kind`` (``"agents"`` or ``"envs"``) are looked up, in order."""
    if kind not in ("agents", "envs"):
        raise ValueError(f"kind must be 'agents' or 'envs', got {kind!r}")
    dirs = []
    installed = importlib.resources.files("memrl") / "_presets" / kind
    if installed.is_dir():
        dirs.append(Path(str(installed)))
    checkout = Path(__file__).resolve().parent.parent / kind
    if checkout.is_dir():
        dirs.append(checkout)
    return dirs


def _named_files(kind: str) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for directory in preset_dirs(kind):
        for path in sorted(directory.glob("*.yaml")):
            found.setdefault(path.stem, path)
    return found


def agent_presets() -> dict[str, Path]:
    """Agent preset name -> file."""
    return _named_files("agents")


def suite_files() -> dict[str, Path]:
    """Suite name -> file."""
    return _named_files("envs")


def _resolve_file(name_or_path: str | Path, kind: str, files: dict[str, Path]) -> Path:
    text = str(name_or_path)
    if text in files:
        return files[text]
    path = Path(text).expanduser()
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise ConfigError(text, "", f"no such {kind} file")
        return path
    raise ConfigError(
        text, "", f"unknown {kind} preset; presets: {', '.join(files) or '(none)'} (or a YAML path)"
    )


def load_agent(name_or_path: str | Path, overrides: Sequence[str] = ()) -> AgentConfig:
    """An agent preset by name (``memrl list``) or from a YAML file, with ``--set`` overrides."""
    path = _resolve_file(name_or_path, "agent", agent_presets())
    data = _read_yaml(path)
    if overrides:
        data = apply_overrides(data if isinstance(data, Mapping) else {}, overrides)
    source = f"{path}" + (" (with --set overrides)" if overrides else "")
    return AgentConfig.from_dict(data, source, default_name=path.stem)


def load_suite(name_or_path: str | Path) -> SuiteConfig:
    """A suite by name (``quick``) or from a YAML file."""
    path = _resolve_file(name_or_path, "suite", suite_files())
    return SuiteConfig.from_dict(_read_yaml(path), str(path))


def load_run_config(path: str | Path, overrides: Sequence[str] = ()) -> RunConfig:
    """A run's ``config.yaml`` (a run directory is accepted too), with overrides.

    Overrides address the run's keys: ``steps=...``, ``env.kwargs.x=...``, ``agent.x=...``.
    """
    path = Path(path)
    if path.is_dir():
        path = path / "config.yaml"
    if not path.is_file():
        raise ConfigError(str(path), "", "no such run configuration file")
    data = _read_yaml(path)
    if overrides:
        data = apply_overrides(data if isinstance(data, Mapping) else {}, overrides)
    return RunConfig.from_dict(data, str(path))


def env_defaults(env_id: str) -> dict[str, Any]:
    """``solved_at`` and ``eval_episodes`` for ``env_id`` from the first suite listing it.

    Only the judging values are taken (a threshold is about the return's scale, which the
    env's kwargs do not change for the built-in suites); kwargs and budgets are not.
    """
    for path in suite_files().values():
        try:
            data = _read_yaml(path)
        except ConfigError:
            continue
        for entry in (data or {}).get("envs") or []:
            if isinstance(entry, Mapping) and entry.get("id") == env_id:
                defaults = {"solved_at": entry.get("solved_at")}
                if entry.get("eval_episodes") is not None:
                    defaults["eval_episodes"] = entry["eval_episodes"]
                return defaults
    return {}
