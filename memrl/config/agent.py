"""Agent presets (``agents/<name>.yaml``): :class:`AgentConfig` and its schedules."""

from __future__ import annotations

import copy
import dataclasses
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from memrl.config.reader import Reader, as_float, as_int, describe

__all__ = [
    "ALGORITHMS",
    "DEVICES",
    "MEMORY_ONLY_KEYS",
    "RECURRENT_PPO_ONLY_KEYS",
    "AgentConfig",
    "GumbelSchedule",
    "LinearSchedule",
]

ALGORITHMS = ("memory_ppo", "ppo", "recurrent_ppo")
DEVICES = ("auto", "cpu", "cuda")
# Keys that only mean something for a policy with a memory core.
MEMORY_ONLY_KEYS = (
    "memory",
    "memory_kwargs",
    "shared_memory",
    "seq_len",
    "meta_loss_coef",
    "gumbel",
    "compile",
)
# Keys of sb3-contrib's RecurrentPPO (the LSTM reference) alone.
RECURRENT_PPO_ONLY_KEYS = ("lstm_hidden_size",)


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


def _number_or_schedule(reader: Reader, key: str, default: float) -> float | LinearSchedule:
    value = reader.data.get(key, default)
    if isinstance(value, Mapping):
        inner = Reader(
            reader.source, reader.key(key), value, ("schedule", "start", "end", "end_fraction")
        )
        inner.string("schedule", choices=("linear",))
        return LinearSchedule(
            start=inner.number("start", minimum=0.0),
            end=inner.number("end", minimum=0.0),
            end_fraction=_fraction(inner, "end_fraction"),
        )
    number = as_float(value)
    if number is None or number < 0:
        reader.fail(
            key,
            "expected a number >= 0 or a schedule mapping "
            f"{{schedule: linear, start: <number>, end: <number>}}, got {describe(value)}",
        )
    return number


def _fraction(reader: Reader, key: str) -> float:
    return reader.number(key, 1.0, positive=True, maximum=1.0)


@dataclass(frozen=True)
class GumbelSchedule:
    """Temperature of hard (Gumbel-softmax) reads: ``max(floor, tau0 * 2**(-steps/half_life))``.

    Applied by :class:`memrl.sb3.GumbelTemperatureCallback`.
    """

    tau0: float = 1.0
    floor: float = 0.5
    half_life: float = 50_000

    @classmethod
    def from_dict(cls, reader: Reader, key: str) -> GumbelSchedule | None:
        value = reader.data.get(key)
        if value is None:
            return None
        inner = Reader(reader.source, reader.key(key), value, ("tau0", "floor", "half_life"))
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

    ``algorithm`` is ``"memory_ppo"`` (:class:`memrl.sb3.MemoryPPO` with a memory core),
    ``"ppo"`` (SB3's PPO without memory, the floor) or ``"recurrent_ppo"`` (sb3-contrib's
    RecurrentPPO with its LSTM policy, the reference); the keys in ``MEMORY_ONLY_KEYS``
    are only accepted with ``memory_ppo``, ``lstm_hidden_size`` only with
    ``recurrent_ppo``. ``seq_len`` must divide ``n_steps`` and
    ``batch_size`` must be a multiple of ``seq_len`` and at most ``n_steps * n_envs``.
    ``compile`` (``false``, ``true`` or a torch.compile mode such as ``reduce-overhead``)
    compiles the cores' per-step functions (``MemoryActorCriticPolicy(compile=...)``).
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
    compile: bool | str = False
    lstm_hidden_size: int = 64
    device: str = "auto"

    @property
    def uses_memory(self) -> bool:
        return self.algorithm == "memory_ppo"

    @classmethod
    def from_dict(cls, data: Any, source: str, default_name: str | None = None) -> AgentConfig:
        """Validate a mapping (e.g. a parsed preset file) into an AgentConfig."""
        keys = [f.name for f in dataclasses.fields(cls)]
        reader = Reader(source, "", data, keys)
        algorithm = reader.string("algorithm", "memory_ppo", choices=ALGORITHMS)
        if algorithm != "memory_ppo":
            for key in MEMORY_ONLY_KEYS:
                if reader.has(key):
                    reader.fail(
                        key,
                        f"only accepted with algorithm: memory_ppo ({algorithm} has no memory "
                        "core)",
                    )
        if algorithm != "recurrent_ppo":
            for key in RECURRENT_PPO_ONLY_KEYS:
                if reader.has(key):
                    reader.fail(key, "only accepted with algorithm: recurrent_ppo")
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
        # SB3 normalises advantages per minibatch: one sample has no spread.
        batch_size = reader.integer(
            "batch_size", 256, minimum=2 if algorithm != "memory_ppo" else 1
        )
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
            compile=_compile(reader) if algorithm == "memory_ppo" else False,
            lstm_hidden_size=reader.integer("lstm_hidden_size", 64, minimum=1)
            if algorithm == "recurrent_ppo"
            else 64,
            device=reader.string("device", "auto", choices=DEVICES),
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain YAML-safe data that :meth:`from_dict` reads back to an equal config."""
        data: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            if not self.uses_memory and f.name in MEMORY_ONLY_KEYS:
                continue
            if self.algorithm != "recurrent_ppo" and f.name in RECURRENT_PPO_ONLY_KEYS:
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
                compile=self.compile,
            )
        if self.algorithm == "recurrent_ppo":
            policy_kwargs["lstm_hidden_size"] = self.lstm_hidden_size
        kwargs["policy_kwargs"] = policy_kwargs
        return kwargs


def _unit_interval(reader: Reader, key: str, default: float) -> float:
    return reader.number(key, default, minimum=0.0, maximum=1.0)


def _compile(reader: Reader) -> bool | str:
    from memrl.checks import CheckError
    from memrl.memory.base import COMPILE_MODES, compile_mode

    value = reader.data.get("compile", False)
    try:
        compile_mode(value)
    except CheckError:
        reader.fail(
            "compile",
            f"expected true, false or a torch.compile mode ({', '.join(COMPILE_MODES)}); "
            f"got {describe(value)}",
        )
    return value


def _net_arch(reader: Reader) -> list[int] | dict[str, list[int]] | None:
    value = reader.data.get("net_arch")
    if value is None:
        return None

    def layers(v: Any) -> list[int] | None:
        if not isinstance(v, list):
            return None
        sizes = [as_int(x) for x in v]
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
        f"got {describe(value)}",
    )


def _check_core(reader: Reader, memory: str, memory_kwargs: dict[str, Any]) -> None:
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
