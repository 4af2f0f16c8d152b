"""Planning a benchmark: one :class:`PlannedRun` per agent, env of the suite and seed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from memrl.checks import CheckError, check_int
from memrl.config import (
    AgentConfig,
    ConfigError,
    EnvConfig,
    RunConfig,
    SuiteConfig,
    apply_overrides,
    load_agent,
    load_run_config,
)
from memrl.run.files import CONFIG_FILE, is_finished
from memrl.run.train import make_run_config

__all__ = ["PlannedRun", "pending_runs", "plan_runs"]


@dataclass(frozen=True)
class PlannedRun:
    """One run of a benchmark: ``agent`` (preset name) on the suite's env number
    ``env_index`` with seed ``seed``, configured by ``config``, trained into ``run_dir``."""

    agent: str
    env_index: int
    seed: int
    config: RunConfig
    run_dir: Path


def _merge_env(suite_env: EnvConfig, overrides: Sequence[str]) -> EnvConfig:
    """The suite's env with any ``env.`` overrides applied on top."""
    env_overrides = [o for o in overrides if o.strip().startswith("env.")]
    if not env_overrides:
        return suite_env
    data = apply_overrides({"env": suite_env.to_dict()}, env_overrides)
    return EnvConfig.from_dict(data["env"], "--set")


def plan_runs(
    suite: SuiteConfig,
    agents: Sequence[str | Path | AgentConfig],
    seeds: int,
    out_dir: Path,
    steps_scale: float = 1.0,
    overrides: Sequence[str] = (),
    agent_seeds: Mapping[str, int] | None = None,
) -> list[PlannedRun]:
    """Every run of a benchmark: seed 0 of every agent on every env first, then seed 1, ...

    Seed-major, so that an interrupted benchmark already has a row for every agent and env;
    within a seed, agent by agent in the given order, env by env.

    An agent gets seeds ``0 .. n-1``, with ``n = agent_seeds[name]`` if its preset name is
    there, else ``seeds``. A run gets the suite entry's env (with any ``env.`` overrides) and
    budget times ``steps_scale``, a checkpoint every quarter and a learning-curve evaluation
    every tenth of it, and the directory ``out_dir/runs/<agent>/<env index>-<env
    slug>/seed<k>``.

    Raises:
        CheckError: a seed count below 1, or ``agent_seeds`` names an agent not planned.
    """
    agent_configs = [a if isinstance(a, AgentConfig) else load_agent(a) for a in agents]
    seed_counts = _seed_counts(agent_configs, seeds, agent_seeds or {})
    planned = []
    for agent_config in agent_configs:
        for index, entry in enumerate(suite.envs):
            steps = max(1, round(entry.steps * steps_scale))
            env = _merge_env(entry.env, overrides)
            for seed in range(seed_counts[agent_config.name]):
                config = make_run_config(
                    agent_config, entry.env.id, steps, seed, overrides=overrides
                ).replace(
                    env=env,
                    checkpoint_every=max(1, steps // 4),
                    eval_every=max(1, steps // 10),
                    curve_episodes=min(20, env.eval_episodes),
                )
                # Validated as a whole, as train() will write and --resume will read it.
                config = RunConfig.from_dict(config.to_dict(), "bench run")
                run_dir = out_dir / "runs" / agent_config.name / f"{index}-{entry.env.slug}"
                planned.append(
                    PlannedRun(agent_config.name, index, seed, config, run_dir / f"seed{seed}")
                )
    return sorted(planned, key=lambda run: run.seed)  # stable: agent and env order kept


def _seed_counts(
    agents: Sequence[AgentConfig], seeds: int, agent_seeds: Mapping[str, int]
) -> dict[str, int]:
    """The number of seeds of each agent: ``agent_seeds`` where given, else ``seeds``."""
    default = check_int("seeds", seeds, minimum=1)
    names = [agent.name for agent in agents]
    unknown = sorted(set(agent_seeds) - set(names))
    if unknown:
        raise CheckError(
            "an agent given seeds", f"one of the agents ({', '.join(names)})", ", ".join(unknown)
        )
    counts = dict.fromkeys(names, default)
    for name, count in agent_seeds.items():
        counts[name] = check_int(f"seeds of {name}", count, minimum=1)
    return counts


def pending_runs(planned: Sequence[PlannedRun]) -> list[PlannedRun]:
    """The planned runs not finished yet (unstarted or interrupted).

    Raises:
        ConfigError: a run directory holds a run with another configuration.
    """
    pending = []
    for run in planned:
        config_path = run.run_dir / CONFIG_FILE
        if config_path.exists():
            if load_run_config(config_path) != run.config:
                raise ConfigError(
                    str(config_path),
                    "",
                    "an earlier bench in this directory used another configuration; "
                    "choose another --out to run this one",
                )
            if is_finished(run.run_dir, run.config):
                continue
        pending.append(run)
    return pending
