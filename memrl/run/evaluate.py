"""Evaluation of a model or of a run directory: :class:`EvalResult` (``eval.json``)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from memrl.config import EnvConfig, load_run_config
from memrl.run.files import CHECKPOINT_FILE, CONFIG_FILE, MODEL_FILE, read_progress, write_eval
from memrl.run.models import load_model, make_env

if TYPE_CHECKING:
    from stable_baselines3.common.base_class import BaseAlgorithm
    from stable_baselines3.common.vec_env import VecEnv

__all__ = [
    "EVAL_SEED_OFFSET",
    "MAX_EVAL_ENVS",
    "EvalResult",
    "evaluate",
    "evaluate_run",
    "format_duration",
]

# The evaluation envs are seeded apart from the training envs (seed + i) so that evaluation
# episodes are not replays of training episodes.
EVAL_SEED_OFFSET = 10_000
MAX_EVAL_ENVS = 8


def format_duration(seconds: float) -> str:
    """``1m 05s``, or ``42s`` under a minute."""
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


@dataclass(frozen=True)
class EvalResult:
    """An evaluation: returns over ``episodes`` episodes (``eval.json``).

    ``success_rate``: the fraction of episodes with ``info["is_success"]`` where the env reports
    it, else with a return >= ``solved_at``; ``None`` when neither is known. ``returns`` and
    ``lengths`` hold one value per episode.
    """

    mean_return: float
    std_return: float
    success_rate: float | None
    episodes: int
    deterministic: bool
    solved_at: float | None
    solved: bool | None
    steps: int
    returns: list[float] = field(default_factory=list)
    lengths: list[int] = field(default_factory=list)
    train_seconds: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EvalResult:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    def table(self, title: str = "evaluation") -> str:
        """A short text table for the terminal."""
        rows = [
            ("mean return", f"{self.mean_return:.3f} ± {self.std_return:.3f}"),
            (
                "success rate",
                "n/a" if self.success_rate is None else f"{100 * self.success_rate:.1f}%",
            ),
            (
                "episodes",
                f"{self.episodes} ({'deterministic' if self.deterministic else 'sampled'})",
            ),
            ("trained steps", f"{self.steps:,}"),
        ]
        if self.solved_at is not None:
            rows.append(("solved", f"{'yes' if self.solved else 'no'} (at >= {self.solved_at:g})"))
        if self.train_seconds is not None:
            rows.append(("training time", format_duration(self.train_seconds)))
        width = max(len(name) for name, _ in rows)
        lines = [title, "-" * max(len(title), 30)]
        lines += [f"{name:<{width}}  {value}" for name, value in rows]
        return "\n".join(lines)


def evaluate(
    model: BaseAlgorithm,
    env: EnvConfig,
    episodes: int | None = None,
    deterministic: bool = True,
    seed: int = 0,
    vec_env: VecEnv | None = None,
) -> EvalResult:
    """Evaluate ``model`` on ``env`` for ``episodes`` (default ``env.eval_episodes``).

    The envs are seeded with ``seed + EVAL_SEED_OFFSET + i`` unless ``vec_env`` is given
    (then it is used as it is, e.g. one env reused for a learning curve).
    """
    from stable_baselines3.common.evaluation import evaluate_policy

    episodes = episodes or env.eval_episodes
    owned = vec_env is None
    if vec_env is None:
        vec_env = make_env(env, min(MAX_EVAL_ENVS, episodes), seed + EVAL_SEED_OFFSET)
    successes: list[bool | None] = []

    def record(local: dict[str, Any], _: dict[str, Any]) -> None:
        info = local["info"]
        if local["done"] and "episode" in info:
            success = info.get("is_success")
            successes.append(None if success is None else bool(success))

    try:
        returns, lengths = evaluate_policy(
            model,
            vec_env,
            n_eval_episodes=episodes,
            deterministic=deterministic,
            return_episode_rewards=True,
            callback=record,
            warn=False,
        )
    finally:
        if owned:
            vec_env.close()
    returns_array = np.asarray(returns, dtype=np.float64)
    if successes and all(s is not None for s in successes):
        success_rate: float | None = float(np.mean(successes))
    elif env.solved_at is not None:
        success_rate = float(np.mean(returns_array >= env.solved_at))
    else:
        success_rate = None
    mean = float(returns_array.mean())
    return EvalResult(
        mean_return=mean,
        std_return=float(returns_array.std()),
        success_rate=success_rate,
        episodes=len(returns),
        deterministic=deterministic,
        solved_at=env.solved_at,
        solved=None if env.solved_at is None else bool(mean >= env.solved_at),
        steps=int(model.num_timesteps),
        returns=[float(r) for r in returns],
        lengths=[int(n) for n in lengths],
    )


def evaluate_run(
    run_dir: str | Path,
    episodes: int | None = None,
    deterministic: bool = True,
    device: str | None = None,
    write: bool = True,
) -> EvalResult:
    """Evaluate a run's ``model.zip`` (its latest checkpoint if it has no final model yet) and
    write ``eval.json``. Deterministic for a given run: the eval envs are seeded from its seed."""
    run_dir = Path(run_dir)
    config = load_run_config(run_dir / CONFIG_FILE)
    path = run_dir / MODEL_FILE
    if not path.is_file():
        path = run_dir / CHECKPOINT_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{run_dir}: no {MODEL_FILE} or {CHECKPOINT_FILE} to evaluate")
    model = load_model(config, path, device=device)
    result = evaluate(model, config.env, episodes, deterministic, seed=config.seed)
    result = dataclasses.replace(result, train_seconds=read_progress(run_dir).get("train_seconds"))
    if write:
        write_eval(run_dir, result.to_dict())
    return result
