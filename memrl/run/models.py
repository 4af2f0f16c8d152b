"""The SB3 models and vectorised envs of a run: made from its configuration, or loaded.

Shared by training and evaluation (which loads a run's saved model), so neither imports
the other for them.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

from memrl.checks import ModelFileError
from memrl.config import AgentConfig, ConfigError, EnvConfig, RunConfig

if TYPE_CHECKING:
    from stable_baselines3.common.base_class import BaseAlgorithm
    from stable_baselines3.common.vec_env import VecEnv

__all__ = ["RESUMABLE_KEYS", "ModelFileError", "load_model", "make_env", "make_model"]

# Agent settings a resumed run may change (``memrl train --resume --set learning_rate=...``),
# e.g. to continue past a non-finite update with smaller steps; a loaded model takes them
# from the run's configuration, not from the archive.
RESUMABLE_KEYS = ("learning_rate", "max_grad_norm")


def _algorithm_class(agent: AgentConfig) -> type[BaseAlgorithm]:
    if agent.uses_memory:
        from memrl.sb3 import MemoryPPO

        return MemoryPPO
    if agent.algorithm == "recurrent_ppo":
        try:
            from memrl.sb3.recurrent_ppo import ReferenceRecurrentPPO
        except ImportError:
            raise ConfigError(
                "agent",
                "algorithm",
                f"{agent.name}: recurrent_ppo needs sb3-contrib: pip install 'memrl[bench]'",
            ) from None
        return ReferenceRecurrentPPO
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
    """A fresh SB3 model for ``config`` on the VecEnv ``env``: ``MemoryPPO`` for an agent
    with a memory core, else ``PPO`` or sb3-contrib's ``RecurrentPPO`` (LSTM policy; as
    :class:`~memrl.sb3.recurrent_ppo.ReferenceRecurrentPPO`) with memrl's default encoder."""
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
    if agent.algorithm == "recurrent_ppo":
        policy = policy.replace("Policy", "LstmPolicy")
    kwargs["policy_kwargs"].setdefault("features_extractor_class", default_encoder_class(space))
    return _algorithm_class(agent)(policy, env, **kwargs, **common)


def load_model(config: RunConfig, path: str | Path, device: str | None = None) -> BaseAlgorithm:
    """Load a saved model (``model.zip`` or ``checkpoint.zip``) of a run with ``config``.

    SB3 archives hold pickled objects: load only files you trust.

    Raises:
        ModelFileError: ``path`` is not an SB3 archive of this run's algorithm and policy.
    """
    algorithm = _algorithm_class(config.agent)
    sb3_kwargs = config.agent.sb3_kwargs()
    settings = {key: sb3_kwargs[key] for key in RESUMABLE_KEYS}
    try:
        return algorithm.load(str(path), device=device or config.agent.device, **settings)
    except (
        zipfile.BadZipFile,
        EOFError,
        KeyError,
        ValueError,
        TypeError,
        AssertionError,  # SB3 asserts that an archive holds its "data" entry
        RuntimeError,  # torch: a state dict of other shapes
    ) as error:
        raise ModelFileError(
            f"{path}: not a loadable {algorithm.__name__} model of this run "
            f"({type(error).__name__}: {_first_line(error)}); expected the model.zip or "
            "checkpoint.zip that memrl train wrote for it"
        ) from error


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else "no message"
