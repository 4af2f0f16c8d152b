"""The SB3 models and vectorised envs of a run: made from its configuration, or loaded.

Shared by training and evaluation (which loads a run's saved model), so neither imports
the other for them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from memrl.config import AgentConfig, ConfigError, EnvConfig, RunConfig

if TYPE_CHECKING:
    from stable_baselines3.common.base_class import BaseAlgorithm
    from stable_baselines3.common.vec_env import VecEnv

__all__ = ["load_model", "make_env", "make_model"]


def _algorithm_class(agent: AgentConfig) -> type[BaseAlgorithm]:
    if agent.uses_memory:
        from memrl.sb3 import MemoryPPO

        return MemoryPPO
    from stable_baselines3 import PPO

    return PPO


def make_env(env: EnvConfig, n_envs: int, seed: int) -> VecEnv:
    """``n_envs`` copies of ``env`` seeded ``seed + i``; bad kwargs or wrappers are
    reported as a :class:`~memrl.config.ConfigError` of ``env``."""
    from memrl.envs import make_vec

    try:
        return make_vec(env.id, n_envs=n_envs, seed=seed, wrappers=env.wrappers, **env.kwargs)
    except (TypeError, ValueError) as error:
        raise ConfigError("env", "kwargs/wrappers", f"{env.id}: {error}") from error


def make_model(
    config: RunConfig,
    env: VecEnv,
    tensorboard_log: str | Path | None = None,
    device: str | None = None,
) -> BaseAlgorithm:
    """A fresh SB3 model for ``config`` on the VecEnv ``env`` (``MemoryPPO`` for an agent
    with a memory core, else ``PPO`` with memrl's default encoder)."""
    from gymnasium import spaces

    from memrl.sb3 import default_encoder_class

    agent = config.agent
    kwargs = agent.sb3_kwargs()
    common = dict(
        seed=config.seed,
        device=device or agent.device,
        tensorboard_log=str(tensorboard_log) if tensorboard_log is not None else None,
        verbose=0,
    )
    if agent.uses_memory:
        return _algorithm_class(agent)("MlpMemoryPolicy", env, **kwargs, **common)
    space = env.observation_space
    policy = "MultiInputPolicy" if isinstance(space, spaces.Dict) else "MlpPolicy"
    kwargs["policy_kwargs"].setdefault("features_extractor_class", default_encoder_class(space))
    return _algorithm_class(agent)(policy, env, **kwargs, **common)


def load_model(config: RunConfig, path: str | Path, device: str | None = None) -> BaseAlgorithm:
    """Load a saved model (``model.zip`` or ``checkpoint.zip``) of a run with ``config``."""
    return _algorithm_class(config.agent).load(str(path), device=device or config.agent.device)
