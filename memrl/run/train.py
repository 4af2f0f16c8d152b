"""Training one run into its run directory: :func:`train`, and :func:`make_run_config` to
resolve the run from an agent preset, an env id and ``--set`` overrides."""

from __future__ import annotations

import dataclasses
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback, CallbackList

from memrl.config import (
    RUN_KEYS,
    AgentConfig,
    ConfigError,
    RunConfig,
    apply_overrides,
    env_defaults,
    load_agent,
    load_run_config,
)
from memrl.run.device import resolve_device
from memrl.run.evaluate import EVAL_SEED_OFFSET, MAX_EVAL_ENVS, EvalResult, evaluate
from memrl.run.files import (
    CHECKPOINT_FILE,
    CONFIG_FILE,
    MODEL_FILE,
    TENSORBOARD_DIR,
    add_curve_row,
    read_curve,
    read_progress,
    save_model,
    write_config,
    write_eval,
    write_progress,
)
from memrl.run.models import RESUMABLE_KEYS, load_model, make_env, make_model
from memrl.sb3.callbacks import NonFiniteError, NonFiniteGuard
from memrl.signals import StopRequest, stop_signals

if TYPE_CHECKING:
    from stable_baselines3.common.base_class import BaseAlgorithm

__all__ = [
    "DEFAULT_AGENT",
    "DEFAULT_ENV",
    "DEFAULT_STEPS",
    "RunCallback",
    "StopRequest",
    "TrainResult",
    "checkpoint",
    "curve_row",
    "make_run_config",
    "route_override",
    "train",
]

DEFAULT_AGENT = "memnet"
DEFAULT_ENV = "memrl/TMaze-v0"
# Measured for `memrl train` (memnet on memrl/TMaze-v0, corridor 10) on a 2-core CPU: solved
# (deterministic return 1.0) after 50k to 60k steps at about 1000 steps/s; 120k leaves margin.
# MemNet is the default because its recall is exact (one slot per past step) and, at the
# junction, sharp: it reads the cue step back. The DNC also solves the task but carries the
# cue in its LSTM controller, so its reads there are near uniform.
DEFAULT_STEPS = 120_000


# --- configuration ---------------------------------------------------------------------------


def route_override(text: str) -> str:
    """A ``--set key=value`` addressed to a run: keys of the run (``env.``, ``steps``, ``seed``,
    ...) stay as they are, any other key is the agent's and gets the ``agent.`` prefix."""
    key = text.partition("=")[0].strip()
    head = key.split(".")[0]
    return text if head in RUN_KEYS else f"agent.{text.strip()}"


def make_run_config(
    agent: str | Path | AgentConfig = DEFAULT_AGENT,
    env: str = DEFAULT_ENV,
    steps: int | None = None,
    seed: int = 0,
    n_envs: int | None = None,
    device: str | None = None,
    overrides: Sequence[str] = (),
) -> RunConfig:
    """Resolve a run: an agent preset (name, YAML path or config), an env id and overrides.

    ``overrides`` are ``key=value`` strings (values parsed as YAML). A key starting with
    ``env.`` sets the environment (``env.kwargs.corridor_length=5``, ``env.solved_at=0.9``,
    ``env.wrappers=[flatten]``); ``steps``, ``seed``, ``checkpoint_every``, ``eval_every``,
    ``curve_episodes`` set the run; any other key sets the agent (``memory_kwargs.memory_slots=32``,
    ``learning_rate=1.0e-3``; ``agent.`` may prefix it).

    Defaults: ``solved_at`` and ``eval_episodes`` from the first suite listing ``env``
    (:func:`memrl.config.env_defaults`), ``steps`` :data:`DEFAULT_STEPS`, a checkpoint every
    quarter and a learning-curve evaluation every tenth of the budget.
    """
    agent_config = agent if isinstance(agent, AgentConfig) else load_agent(agent)
    agent_data = agent_config.to_dict()
    if n_envs is not None:
        agent_data["n_envs"] = n_envs
    if device is not None:
        agent_data["device"] = device
    env_data: dict[str, Any] = {"id": env, **env_defaults(env)}
    data: dict[str, Any] = {"agent": agent_data, "env": env_data, "seed": seed}
    if steps is not None:
        data["steps"] = steps
    data = apply_overrides(data, [route_override(text) for text in overrides])
    budget = data.setdefault("steps", DEFAULT_STEPS)
    if isinstance(budget, int) and budget > 0:
        data.setdefault("checkpoint_every", max(1, budget // 4))
        data.setdefault("eval_every", max(1, budget // 10))
    source = "run configuration"
    if overrides or n_envs is not None or device is not None:
        source += f" (agent {agent_config.name} with command-line overrides)"
    return RunConfig.from_dict(data, source)


# --- the learning curve and checkpoints -----------------------------------------------------


def _train_return(model: BaseAlgorithm) -> float:
    """Mean return of the last (up to 100) finished training episodes; NaN before the first."""
    buffer = model.ep_info_buffer
    if not buffer:
        return math.nan
    return float(np.mean([info["r"] for info in buffer]))


def curve_row(result: EvalResult, model: BaseAlgorithm, seconds: float) -> dict[str, float]:
    """The ``curve.csv`` row (:data:`~memrl.run.files.CURVE_COLUMNS`) of an evaluation of
    ``model`` after ``seconds`` of training; an unknown success rate is NaN."""
    return dict(
        steps=float(result.steps),
        mean_return=result.mean_return,
        std_return=result.std_return,
        success_rate=math.nan if result.success_rate is None else result.success_rate,
        train_return=_train_return(model),
        seconds=seconds,
    )


def checkpoint(model: BaseAlgorithm, run_dir: Path, train_seconds: float) -> None:
    """Save ``checkpoint.zip``, then ``progress.json``, each atomically. A kill between the
    two leaves ``progress.json`` one checkpoint behind; resuming trusts the step count saved
    in the checkpoint itself."""
    save_model(model, run_dir / CHECKPOINT_FILE)
    write_progress(run_dir, model.num_timesteps, train_seconds)


# --- training -------------------------------------------------------------------------------


class RunCallback(BaseCallback):
    """The callback every run has. Between rollouts (parameters updated with every collected
    step): a checkpoint and a learning-curve evaluation when due; every step: the stop flag
    and the progress bar.

    Args:
        config: the run.
        run_dir: where checkpoints and ``curve.csv`` go.
        stop: training stops at the next step once ``stop.requested``.
        curve: the learning curve so far (rows of ``curve.csv``); extended in place.
        clock: training seconds so far (including those before a resume).
        progress: show a progress bar (steps, mean training return).
    """

    def __init__(
        self,
        config: RunConfig,
        run_dir: Path,
        stop: StopRequest,
        curve: list[dict[str, float]],
        clock: Callable[[], float],
        progress: bool,
    ) -> None:
        super().__init__()
        self.config = config
        self.run_dir = run_dir
        self.stop = stop
        self.curve = curve
        self.clock = clock
        self.progress = progress
        self.bar: Any = None
        self.eval_env: Any = None
        self.next_checkpoint = 0
        self.next_eval = 0

    def _on_training_start(self) -> None:
        config, done = self.config, self.num_timesteps
        self.next_checkpoint = (done // config.checkpoint_every + 1) * config.checkpoint_every
        # A fresh run's curve starts with the untrained policy.
        self.next_eval = (done // config.eval_every + 1) * config.eval_every if done else 0
        if self.progress:
            from tqdm.auto import tqdm

            self.bar = tqdm(
                total=config.steps,
                initial=done,
                unit="step",
                unit_scale=True,
                dynamic_ncols=True,
                # A log file (not a terminal) gets a line every 10 s, not 10 per second.
                mininterval=0.2 if sys.stderr.isatty() else 10.0,
                desc=f"{config.agent.name} on {config.env.label}",
            )

    def _on_rollout_start(self) -> None:
        config, steps = self.config, self.model.num_timesteps
        if steps >= self.next_eval:
            self.evaluate()
            self.next_eval = (steps // config.eval_every + 1) * config.eval_every
        if steps >= self.next_checkpoint:
            checkpoint(self.model, self.run_dir, self.clock())
            self.next_checkpoint = (steps // config.checkpoint_every + 1) * config.checkpoint_every

    def evaluate(self) -> None:
        """One learning-curve evaluation (``curve_episodes``, deterministic) into ``curve.csv``
        and TensorBoard; its envs are made once and reused."""
        config = self.config
        if self.eval_env is None:
            self.eval_env = make_env(
                config.env,
                min(MAX_EVAL_ENVS, config.curve_episodes),
                config.seed + 2 * EVAL_SEED_OFFSET,
            )
        result = evaluate(
            self.model, config.env, config.curve_episodes, True, vec_env=self.eval_env
        )
        add_curve_row(self.run_dir, self.curve, curve_row(result, self.model, self.clock()))
        self.logger.record("eval/mean_return", result.mean_return)
        if result.success_rate is not None:
            self.logger.record("eval/success_rate", result.success_rate)

    def _on_step(self) -> bool:
        if self.bar is not None:
            self.bar.update(self.training_env.num_envs)
            if self.n_calls % 64 == 0:
                mean = _train_return(self.model)
                if not math.isnan(mean):
                    self.bar.set_postfix_str(f"return {mean:.2f}", refresh=False)
        return not self.stop.requested

    def _on_training_end(self) -> None:
        self.close()

    def close(self) -> None:
        """Close the progress bar and the evaluation envs (also when training failed)."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        if self.eval_env is not None:
            self.eval_env.close()
            self.eval_env = None


@dataclass(frozen=True)
class TrainResult:
    """What :func:`train` did. ``evaluation`` is ``None`` when the run was interrupted."""

    run_dir: Path
    steps: int
    interrupted: bool
    evaluation: EvalResult | None
    train_seconds: float


def _check_run_dir(config: RunConfig, run_dir: Path, resume: bool) -> None:
    config_path = run_dir / CONFIG_FILE
    if resume:
        saved = load_run_config(config_path)
        changed = {key: getattr(config.agent, key) for key in RESUMABLE_KEYS}
        agent = dataclasses.replace(saved.agent, **changed)
        if saved.replace(steps=config.steps, agent=agent) != config:
            raise ConfigError(
                str(config_path),
                "",
                "--resume continues a run with its own configuration; only steps and "
                f"{', '.join(RESUMABLE_KEYS)} may change",
            )
    elif config_path.exists():
        raise FileExistsError(
            f"{run_dir} already holds a run; pass resume=True (--resume) to continue it "
            "or choose another run directory"
        )


def train(
    config: RunConfig,
    run_dir: str | Path,
    *,
    resume: bool = False,
    callbacks: Sequence[BaseCallback] = (),
    progress: bool = True,
    device: str | None = None,
    log: Callable[[str], None] | None = print,
) -> TrainResult:
    """Train one run into ``run_dir`` (see :mod:`memrl.run` for what it writes).

    Args:
        config: the run; written to ``run_dir/config.yaml``.
        run_dir: the run directory; must not hold another run unless ``resume``.
        resume: continue from ``run_dir/checkpoint.zip`` (config from ``run_dir``
            must equal ``config``, except that ``steps`` may grow and the agent's
            :data:`~memrl.run.models.RESUMABLE_KEYS` may change); the step count continues.
        callbacks: extra SB3 callbacks, run after memrl's own.
        progress: show a progress bar (steps, mean training return).
        device: overrides the agent's device (``auto``, ``cpu``, ``cuda``).
        log: where messages go (``None``: nowhere).

    Returns:
        A :class:`TrainResult`. On Ctrl-C (SIGINT) or SIGTERM training stops at the next step, a
        checkpoint is saved and ``interrupted`` is true; no final model or evaluation then.

    Raises:
        NonFiniteError: an update made a loss, gradient or parameter non-finite; nothing is
            saved after it, so the last checkpoint stays the last good one (the message
            says how to resume from it).
    """
    say = log or (lambda _: None)
    run_dir = Path(run_dir)
    device = resolve_device(device or config.agent.device)
    _check_run_dir(config, run_dir, resume)
    # Before the directory: env kwargs that fail leave no half-made run behind.
    env = make_env(config.env, config.agent.n_envs, config.seed)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_config(run_dir, config)

    checkpoint_path = run_dir / CHECKPOINT_FILE
    tensorboard_log = run_dir / TENSORBOARD_DIR
    if resume and checkpoint_path.is_file():
        model = load_model(config, checkpoint_path, device=device)
        model.set_env(env)
        model.tensorboard_log = str(tensorboard_log)
        # The saved last observation belongs to envs that no longer exist: reset the new ones.
        model._last_obs = None
        prior_seconds = float(read_progress(run_dir).get("train_seconds", 0.0))
        say(f"resuming {run_dir} from step {model.num_timesteps:,}")
    else:
        model = make_model(config, env, tensorboard_log=tensorboard_log, device=device)
        prior_seconds = 0.0
    done = int(model.num_timesteps)
    curve = read_curve(run_dir, max_steps=done)
    start = time.monotonic()

    def clock() -> float:
        return prior_seconds + time.monotonic() - start

    stop = StopRequest()
    run_callback = RunCallback(config, run_dir, stop, curve, clock, progress)
    guard = NonFiniteGuard(config.agent.memory or config.agent.name)
    # The guard first: it raises before anything saves or evaluates broken parameters.
    memrl_callbacks: list[BaseCallback] = [guard, run_callback]
    if config.agent.gumbel is not None:
        from memrl.sb3 import GumbelTemperatureCallback

        g = config.agent.gumbel
        memrl_callbacks.append(GumbelTemperatureCallback(g.tau0, g.floor, g.half_life))
    try:
        if done < config.steps:
            with stop_signals(stop.request):
                model.learn(
                    config.steps - done,
                    callback=CallbackList([*memrl_callbacks, *callbacks]),
                    reset_num_timesteps=done == 0,
                    tb_log_name="train",
                )
    except KeyboardInterrupt:
        stop.requested = True
    except NonFiniteError as error:
        raise _non_finite(error, run_dir) from error
    except ValueError as error:
        found = guard.explain(error)
        if found is None:
            raise
        raise _non_finite(found, run_dir) from error
    finally:
        run_callback.close()
        env.close()
    train_seconds = round(clock(), 3)
    checkpoint(model, run_dir, train_seconds)
    if stop.requested:
        say(
            f"\ninterrupted at step {model.num_timesteps:,}: checkpoint saved in {run_dir}; "
            f"continue with: memrl train --resume --run-dir {run_dir}"
        )
        return TrainResult(run_dir, int(model.num_timesteps), True, None, train_seconds)
    save_model(model, run_dir / MODEL_FILE)
    result = evaluate(model, config.env, deterministic=True, seed=config.seed)
    result = dataclasses.replace(result, train_seconds=train_seconds)
    add_curve_row(run_dir, curve, curve_row(result, model, train_seconds))
    write_eval(run_dir, result.to_dict())
    return TrainResult(run_dir, result.steps, False, result, train_seconds)


def _non_finite(error: NonFiniteError, run_dir: Path) -> NonFiniteError:
    """``error`` with what remains of the run and how to continue it."""
    saved = read_progress(run_dir).get("steps")
    if saved is None:
        hint = f"no checkpoint was saved yet in {run_dir}"
    else:
        hint = (
            f"{run_dir / CHECKPOINT_FILE} (step {saved:,}) is the last good checkpoint, left "
            f"as it was; continue from it with: memrl train --resume --run-dir {run_dir} "
            "--set learning_rate=<lower>"
        )
    return NonFiniteError(error.step, error.core, error.quantity, hint)
