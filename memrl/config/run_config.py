"""The run configuration (``config.yaml`` in every run directory): :class:`RunConfig`."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from memrl.config.agent import AgentConfig
from memrl.config.env import EnvConfig
from memrl.config.reader import ConfigError, Reader, describe

__all__ = ["RUN_KEYS", "RunConfig"]

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
        reader = Reader(source, "", data, RUN_KEYS)
        agent_data = reader.data.get("agent")
        if not isinstance(agent_data, Mapping):
            reader.fail("agent", f"expected the agent's mapping, got {describe(agent_data)}")
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
