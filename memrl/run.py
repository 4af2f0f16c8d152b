"""Training runs, evaluation and benchmarks: the library under the ``memrl`` command and scripts.

A **run directory** holds everything about one training run:

==================  ======================================================================
``config.yaml``     the resolved :class:`~memrl.config.RunConfig` (train it again: same result)
``checkpoint.zip``  the latest checkpoint (atomic; every ``checkpoint_every`` steps, on
                    Ctrl-C and at the end); ``progress.json`` beside it: steps, seconds
``curve.csv``       the learning curve: an evaluation every ``eval_every`` steps
``tb/``             TensorBoard logs (``tensorboard --logdir <run dir>``)
``model.zip``       the final model (``MemoryPPO.load`` / ``PPO.load``)
``eval.json``       the final evaluation (:class:`EvalResult`); its presence marks a finished run
==================  ======================================================================

Files are written atomically (a temporary file in the same directory, then ``os.replace``),
so an interrupted run never leaves a half-written file behind.

Public entry points: :func:`train`, :func:`evaluate`, :func:`evaluate_run`, :func:`bench`,
:func:`make_run_config`, :func:`load_model`.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import json
import math
import multiprocessing
import os
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from memrl.config import (
    RUN_KEYS,
    AgentConfig,
    ConfigError,
    EnvConfig,
    RunConfig,
    SuiteConfig,
    apply_overrides,
    env_defaults,
    load_agent,
    load_run_config,
    load_suite,
    to_yaml,
)

__all__ = [
    "DEFAULT_AGENT",
    "DEFAULT_ENV",
    "DEFAULT_STEPS",
    "BenchResult",
    "EvalResult",
    "TrainResult",
    "atomic_write",
    "bench",
    "default_run_dir",
    "evaluate",
    "evaluate_run",
    "is_finished",
    "load_model",
    "make_model",
    "make_run_config",
    "resolve_device",
    "set_threads",
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
# The evaluation envs are seeded apart from the training envs (seed + i) so that evaluation
# episodes are not replays of training episodes.
EVAL_SEED_OFFSET = 10_000
MAX_EVAL_ENVS = 8

CONFIG_FILE = "config.yaml"
CHECKPOINT_FILE = "checkpoint.zip"
PROGRESS_FILE = "progress.json"
CURVE_FILE = "curve.csv"
MODEL_FILE = "model.zip"
EVAL_FILE = "eval.json"
CURVE_COLUMNS = ("steps", "mean_return", "std_return", "success_rate", "train_return", "seconds")


# --- files ----------------------------------------------------------------------------------


def atomic_write(path: str | Path, data: bytes | str) -> None:
    """Write ``data`` to ``path`` atomically: a temporary file in the same directory, then
    ``os.replace``; readers see the old file or the new one, never a partial one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(payload)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _write_json(path: Path, data: Any) -> None:
    atomic_write(path, json.dumps(data, indent=2) + "\n")


def _save_model(model: Any, path: Path) -> None:
    buffer = io.BytesIO()
    model.save(buffer)
    atomic_write(path, buffer.getvalue())


def default_run_dir(agent: str, env: EnvConfig, root: str | Path = "runs") -> Path:
    """``runs/<agent>-<env slug>-<YYYYmmdd-HHMMSS>``."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path(root) / f"{agent}-{env.slug.replace('/', '-')}-{stamp}"


def set_threads(threads: int | None, device: str = "cpu") -> None:
    """Set torch's CPU threads; ``None`` means 1 on CPU (tiny recurrent nets run fastest on
    one thread; two threads fight over two cores) and torch's default otherwise."""
    import torch

    if threads is None:
        if resolve_device(device) != "cpu":
            return
        threads = 1
    torch.set_num_threads(threads)


def resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for but torch sees no CUDA device; use cpu")
    return device


# --- configuration ---------------------------------------------------------------------------


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
    routed = [_route_override(text) for text in overrides]
    data = apply_overrides(data, routed)
    budget = data.setdefault("steps", DEFAULT_STEPS)
    budget_int = budget if isinstance(budget, int) and budget > 0 else None
    if budget_int is not None:
        data.setdefault("checkpoint_every", max(1, budget_int // 4))
        data.setdefault("eval_every", max(1, budget_int // 10))
    source = "run configuration"
    if overrides or n_envs is not None or device is not None:
        source += f" (agent {agent_config.name} with command-line overrides)"
    return RunConfig.from_dict(data, source)


def _route_override(text: str) -> str:
    key = text.partition("=")[0].strip()
    head = key.split(".")[0]
    return text if head in RUN_KEYS else f"agent.{text.strip()}"


# --- models ---------------------------------------------------------------------------------


def _algorithm_class(agent: AgentConfig) -> type:
    if agent.uses_memory:
        from memrl.sb3 import MemoryPPO

        return MemoryPPO
    from stable_baselines3 import PPO

    return PPO


def make_model(
    config: RunConfig,
    env: Any,
    tensorboard_log: str | Path | None = None,
    device: str | None = None,
) -> Any:
    """A fresh SB3 model for ``config`` on the VecEnv ``env``."""
    from gymnasium import spaces

    from memrl.sb3 import default_encoder_class

    agent = config.agent
    kwargs = agent.sb3_kwargs()
    device = device or agent.device
    common = dict(
        seed=config.seed,
        device=device,
        tensorboard_log=str(tensorboard_log) if tensorboard_log is not None else None,
        verbose=0,
    )
    if agent.uses_memory:
        return _algorithm_class(agent)("MlpMemoryPolicy", env, **kwargs, **common)
    space = env.observation_space
    policy = "MultiInputPolicy" if isinstance(space, spaces.Dict) else "MlpPolicy"
    kwargs["policy_kwargs"].setdefault("features_extractor_class", default_encoder_class(space))
    return _algorithm_class(agent)(policy, env, **kwargs, **common)


def load_model(config: RunConfig, path: str | Path, device: str | None = None) -> Any:
    """Load a saved model (``model.zip`` or ``checkpoint.zip``) of a run with ``config``."""
    return _algorithm_class(config.agent).load(str(path), device=device or config.agent.device)


def _make_env(env: EnvConfig, n_envs: int, seed: int) -> Any:
    from memrl.envs import make_vec

    try:
        return make_vec(env.id, n_envs=n_envs, seed=seed, wrappers=env.wrappers, **env.kwargs)
    except (TypeError, ValueError) as error:
        raise ConfigError("env", "kwargs/wrappers", f"{env.id}: {error}") from error


# --- evaluation -----------------------------------------------------------------------------


@dataclass(frozen=True)
class EvalResult:
    """An evaluation: returns over ``episodes`` episodes (``eval.json``).

    ``success_rate``: the fraction of episodes with ``info["is_success"]`` where the env reports
    it, else with a return >= ``solved_at``; ``None`` when neither is known.
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
            rows.append(("training time", _duration(self.train_seconds)))
        width = max(len(name) for name, _ in rows)
        lines = [title, "-" * max(len(title), 30)]
        lines += [f"{name:<{width}}  {value}" for name, value in rows]
        return "\n".join(lines)


def _duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


def evaluate(
    model: Any,
    env: EnvConfig,
    episodes: int | None = None,
    deterministic: bool = True,
    seed: int = 0,
    vec_env: Any = None,
) -> EvalResult:
    """Evaluate ``model`` on ``env`` for ``episodes`` (default ``env.eval_episodes``).

    The envs are seeded with ``seed + EVAL_SEED_OFFSET + i`` unless ``vec_env`` is given
    (then it is used as it is, e.g. one env reused for a learning curve).
    """
    from stable_baselines3.common.evaluation import evaluate_policy

    episodes = episodes or env.eval_episodes
    if vec_env is None:
        vec_env = _make_env(env, min(MAX_EVAL_ENVS, episodes), seed + EVAL_SEED_OFFSET)
        owned = True
    else:
        owned = False
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
    progress = _read_progress(run_dir)
    result = dataclasses.replace(result, train_seconds=progress.get("train_seconds"))
    if write:
        _write_json(run_dir / EVAL_FILE, result.to_dict())
    return result


def is_finished(run_dir: str | Path, config: RunConfig | None = None) -> bool:
    """True when the run wrote its final evaluation after training its whole budget."""
    run_dir = Path(run_dir)
    try:
        config = config or load_run_config(run_dir / CONFIG_FILE)
        data = json.loads((run_dir / EVAL_FILE).read_text())
    except (OSError, ValueError):
        return False
    return (run_dir / MODEL_FILE).is_file() and int(data.get("steps", 0)) >= config.steps


# --- training -------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainResult:
    """What :func:`train` did. ``evaluation`` is ``None`` when the run was interrupted."""

    run_dir: Path
    steps: int
    interrupted: bool
    evaluation: EvalResult | None
    train_seconds: float


def _read_progress(run_dir: Path) -> dict[str, Any]:
    try:
        return json.loads((run_dir / PROGRESS_FILE).read_text())
    except (OSError, ValueError):
        return {}


def _read_curve(run_dir: Path, max_steps: int | None = None) -> list[dict[str, float]]:
    try:
        with (run_dir / CURVE_FILE).open(newline="") as file:
            rows = [
                {k: float(v) if v not in ("", None) else math.nan for k, v in row.items()}
                for row in csv.DictReader(file)
            ]
    except OSError:
        return []
    return [r for r in rows if max_steps is None or r["steps"] <= max_steps]


def _write_curve(run_dir: Path, rows: list[dict[str, float]]) -> None:
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=CURVE_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if _isnan(row.get(k)) else row.get(k) for k in CURVE_COLUMNS})
    atomic_write(run_dir / CURVE_FILE, text.getvalue())


def _isnan(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


class _StopRequest:
    """Set by SIGINT (Ctrl-C): training stops at the next step and saves a checkpoint."""

    def __init__(self) -> None:
        self.requested = False


@contextlib.contextmanager
def _catch_sigint(stop: _StopRequest) -> Iterator[None]:
    """The first Ctrl-C asks training to stop cleanly; a second one interrupts at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)

    def handler(signum: int, frame: Any) -> None:
        stop.requested = True
        signal.signal(signal.SIGINT, previous)

    signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _run_callbacks(
    config: RunConfig,
    run_dir: Path,
    stop: _StopRequest,
    curve: list[dict[str, float]],
    clock: Callable[[], float],
    progress: bool,
) -> list[Any]:
    """The callbacks every run has: stop on Ctrl-C, checkpoints, learning curve, progress bar."""
    from stable_baselines3.common.callbacks import BaseCallback

    class RunCallback(BaseCallback):
        """Between rollouts (parameters updated with every collected step): checkpoint and
        evaluate for the learning curve when due; every step: the stop flag, the bar."""

        def __init__(self) -> None:
            super().__init__()
            self.bar: Any = None
            self.eval_env: Any = None

        def _on_training_start(self) -> None:
            done = self.num_timesteps
            self.next_checkpoint = (done // config.checkpoint_every + 1) * config.checkpoint_every
            self.next_eval = (done // config.eval_every + 1) * config.eval_every
            if done == 0:
                self.next_eval = 0  # the curve starts with the untrained policy
            if progress:
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
            steps = self.model.num_timesteps
            if steps >= self.next_eval:
                self.evaluate()
                self.next_eval = (steps // config.eval_every + 1) * config.eval_every
            if steps >= self.next_checkpoint:
                checkpoint(self.model, run_dir, clock())
                self.next_checkpoint = (
                    steps // config.checkpoint_every + 1
                ) * config.checkpoint_every

        def evaluate(self) -> None:
            if self.eval_env is None:
                self.eval_env = _make_env(
                    config.env,
                    min(MAX_EVAL_ENVS, config.curve_episodes),
                    config.seed + 2 * EVAL_SEED_OFFSET,
                )
            result = evaluate(
                self.model, config.env, config.curve_episodes, True, vec_env=self.eval_env
            )
            row = dict(
                steps=float(self.model.num_timesteps),
                mean_return=result.mean_return,
                std_return=result.std_return,
                success_rate=math.nan if result.success_rate is None else result.success_rate,
                train_return=_train_return(self.model),
                seconds=clock(),
            )
            curve[:] = [r for r in curve if r["steps"] < row["steps"]] + [row]
            _write_curve(run_dir, curve)
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
            return not stop.requested

        def _on_training_end(self) -> None:
            if self.bar is not None:
                self.bar.close()
            if self.eval_env is not None:
                self.eval_env.close()

    return [RunCallback()]


def _train_return(model: Any) -> float:
    """Mean return of the last (up to 100) finished training episodes."""
    buffer = getattr(model, "ep_info_buffer", None)
    if not buffer:
        return math.nan
    return float(np.mean([info["r"] for info in buffer]))


def checkpoint(model: Any, run_dir: Path, train_seconds: float) -> None:
    """Save ``checkpoint.zip`` and ``progress.json`` atomically."""
    _save_model(model, run_dir / CHECKPOINT_FILE)
    _write_json(
        run_dir / PROGRESS_FILE,
        {"steps": int(model.num_timesteps), "train_seconds": round(train_seconds, 3)},
    )


def train(
    config: RunConfig,
    run_dir: str | Path,
    *,
    resume: bool = False,
    callbacks: Sequence[Any] = (),
    progress: bool = True,
    device: str | None = None,
    log: Callable[[str], None] | None = print,
) -> TrainResult:
    """Train one run into ``run_dir`` (see the module docstring for what it writes).

    Args:
        config: the run; written to ``run_dir/config.yaml``.
        run_dir: the run directory; must not hold another run unless ``resume``.
        resume: continue from ``run_dir/checkpoint.zip`` (config from ``run_dir``
            must equal ``config``, except that ``steps`` may grow); the step count continues.
        callbacks: extra SB3 callbacks (``BaseCallback``), run after memrl's own.
        progress: show a progress bar (steps, mean training return).
        device: overrides the agent's device (``auto``, ``cpu``, ``cuda``).
        log: where messages go (``None``: nowhere).

    Returns:
        A :class:`TrainResult`. On Ctrl-C (SIGINT) training stops at the next step, a
        checkpoint is saved and ``interrupted`` is true; no final model or evaluation then.
    """
    from stable_baselines3.common.callbacks import CallbackList

    say = log or (lambda _: None)
    run_dir = Path(run_dir)
    config_path = run_dir / CONFIG_FILE
    device = resolve_device(device or config.agent.device)
    if resume:
        saved = load_run_config(config_path)
        if saved.replace(steps=config.steps) != config:
            raise ConfigError(
                str(config_path),
                "",
                "--resume continues a run with its own configuration; only steps may change",
            )
    elif config_path.exists():
        raise FileExistsError(
            f"{run_dir} already holds a run; pass resume=True (--resume) to continue it "
            "or choose another run directory"
        )
    run_dir.mkdir(parents=True, exist_ok=True)
    header = "memrl run configuration: `memrl train --config <this file>` trains it again"
    atomic_write(config_path, to_yaml(config.to_dict(), header))

    env = _make_env(config.env, config.agent.n_envs, config.seed)
    checkpoint_path = run_dir / CHECKPOINT_FILE
    if resume and checkpoint_path.is_file():
        model = load_model(config, checkpoint_path, device=device)
        model.set_env(env)
        model.tensorboard_log = str(run_dir / "tb")
        # The saved last observation belongs to envs that no longer exist: reset the new ones.
        model._last_obs = None
        prior_seconds = float(_read_progress(run_dir).get("train_seconds", 0.0))
        say(f"resuming {run_dir} from step {model.num_timesteps:,}")
    else:
        model = make_model(config, env, tensorboard_log=run_dir / "tb", device=device)
        prior_seconds = 0.0
    done = int(model.num_timesteps)
    curve = _read_curve(run_dir, max_steps=done)
    start = time.monotonic()

    def clock() -> float:
        return prior_seconds + time.monotonic() - start

    stop = _StopRequest()
    memrl_callbacks = _run_callbacks(config, run_dir, stop, curve, clock, progress)
    if config.agent.gumbel is not None:
        from memrl.sb3 import GumbelTemperatureCallback

        g = config.agent.gumbel
        memrl_callbacks.append(GumbelTemperatureCallback(g.tau0, g.floor, g.half_life))
    interrupted = False
    if done < config.steps:
        try:
            with _catch_sigint(stop):
                model.learn(
                    config.steps - done,
                    callback=CallbackList([*memrl_callbacks, *callbacks]),
                    reset_num_timesteps=done == 0,
                    tb_log_name="train",
                )
        except KeyboardInterrupt:
            stop.requested = True
        interrupted = stop.requested
    env.close()
    train_seconds = round(clock(), 3)
    checkpoint(model, run_dir, train_seconds)
    if interrupted:
        say(
            f"\ninterrupted at step {model.num_timesteps:,}: checkpoint saved in {run_dir}; "
            f"continue with: memrl train --resume --run-dir {run_dir}"
        )
        return TrainResult(run_dir, int(model.num_timesteps), True, None, train_seconds)
    _save_model(model, run_dir / MODEL_FILE)
    result = evaluate(model, config.env, deterministic=True, seed=config.seed)
    result = dataclasses.replace(result, train_seconds=train_seconds)
    curve_row = dict(
        steps=float(result.steps),
        mean_return=result.mean_return,
        std_return=result.std_return,
        success_rate=math.nan if result.success_rate is None else result.success_rate,
        train_return=_train_return(model),
        seconds=train_seconds,
    )
    curve[:] = [r for r in curve if r["steps"] < curve_row["steps"]] + [curve_row]
    _write_curve(run_dir, curve)
    _write_json(run_dir / EVAL_FILE, result.to_dict())
    return TrainResult(run_dir, result.steps, False, result, train_seconds)


# --- benchmarks -----------------------------------------------------------------------------


@dataclass(frozen=True)
class BenchResult:
    """A benchmark's outputs: the results directory, its files, and the table rows."""

    out_dir: Path
    rows: list[dict[str, Any]]
    markdown: str
    ran: int
    skipped: int


def _bench_job(config_data: dict[str, Any], run_dir: str) -> tuple[str, bool]:
    """One benchmark run in a worker process (torch on one thread)."""
    config = RunConfig.from_dict(config_data, f"{run_dir}/{CONFIG_FILE}")
    set_threads(1)
    resume = (Path(run_dir) / CONFIG_FILE).exists()
    result = train(config, run_dir, resume=resume, progress=False, log=None)
    return run_dir, not result.interrupted


def bench(
    suite: str | Path | SuiteConfig,
    agents: Sequence[str],
    seeds: int = 1,
    jobs: int = 1,
    out: str | Path | None = None,
    steps_scale: float = 1.0,
    overrides: Sequence[str] = (),
    log: Callable[[str], None] | None = print,
) -> BenchResult:
    """Train every agent on every env of a suite with ``seeds`` seeds, ``jobs`` at a time.

    Runs go to ``out/runs/<agent>/<env slug>/seed<k>``; finished ones (``eval.json``) are
    skipped, interrupted ones resume from their checkpoint, so re-running an interrupted bench
    picks up where it stopped. Writes ``results.md``, ``results.csv`` and
    ``learning_curves.png`` into ``out`` (default ``results/<suite>``).

    Args:
        suite: suite name, YAML path or config.
        agents: agent preset names or YAML paths.
        seeds: seeds 0 .. seeds-1 per agent and env.
        jobs: parallel worker processes (spawned; torch uses one thread in each).
        out: results directory.
        steps_scale: multiplies every budget (e.g. 0.1 for a quick try).
        overrides: ``--set`` overrides for every run (as in :func:`make_run_config`).
    """
    say = log or (lambda _: None)
    suite_config = suite if isinstance(suite, SuiteConfig) else load_suite(suite)
    if seeds < 1 or jobs < 1 or not steps_scale > 0:
        raise ValueError(
            f"seeds and jobs must be >= 1, steps_scale > 0; got {seeds}, {jobs}, {steps_scale}"
        )
    if not agents:
        raise ValueError("no agents given")
    out_dir = Path(out) if out is not None else Path("results") / suite_config.name
    planned: list[tuple[str, int, int, RunConfig, Path]] = []
    for agent_config in [load_agent(name) for name in agents]:
        for index, entry in enumerate(suite_config.envs):
            env = entry.env_config()
            steps = max(1, round(entry.steps * steps_scale))
            for seed in range(seeds):
                config = make_run_config(agent_config, env.id, steps, seed, overrides=overrides)
                merged = _merge_env(env, overrides)
                config = config.replace(
                    env=merged,
                    checkpoint_every=max(1, steps // 4),
                    eval_every=max(1, steps // 10),
                    curve_episodes=min(20, merged.eval_episodes),
                )
                config = RunConfig.from_dict(config.to_dict(), "bench run")
                run_dir = (
                    out_dir / "runs" / agent_config.name / f"{index}-{env.slug}" / f"seed{seed}"
                )
                planned.append((agent_config.name, index, seed, config, run_dir))
    todo = []
    for _, _, _, config, run_dir in planned:
        if (run_dir / CONFIG_FILE).exists():
            saved = load_run_config(run_dir / CONFIG_FILE)
            if saved != config:
                raise ConfigError(
                    str(run_dir / CONFIG_FILE),
                    "",
                    "an earlier bench in this directory used another configuration; "
                    "choose another --out to run this one",
                )
            if is_finished(run_dir, config):
                continue
        todo.append((config, run_dir))
    skipped = len(planned) - len(todo)
    say(
        f"bench {suite_config.name}: {len(planned)} runs ({skipped} already finished), "
        f"{jobs} at a time -> {out_dir}"
    )
    _execute(todo, jobs, say)
    rows = _bench_rows(suite_config, planned)
    markdown = _write_results(out_dir, suite_config, rows, planned, steps_scale)
    return BenchResult(out_dir, rows, markdown, len(todo), skipped)


def _merge_env(suite_env: EnvConfig, overrides: Sequence[str]) -> EnvConfig:
    """The suite's env with any ``env.`` overrides applied on top."""
    env_overrides = [o for o in overrides if o.strip().startswith("env.")]
    if not env_overrides:
        return suite_env
    data = apply_overrides({"env": suite_env.to_dict()}, env_overrides)
    return EnvConfig.from_dict(data["env"], "--set")


def _execute(todo: list[tuple[RunConfig, Path]], jobs: int, say: Callable[[str], None]) -> None:
    if not todo:
        return
    started = time.monotonic()
    if jobs == 1:
        for number, (config, run_dir) in enumerate(todo, 1):
            _, finished = _bench_job(config.to_dict(), str(run_dir))
            if not finished:  # Ctrl-C: the run saved a checkpoint; stop the bench too
                raise KeyboardInterrupt
            say(f"  [{number}/{len(todo)}] {run_dir} ({_duration(time.monotonic() - started)})")
        return
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
        futures = [pool.submit(_bench_job, c.to_dict(), str(d)) for c, d in todo]
        try:
            for number, future in enumerate(as_completed(futures), 1):
                run_dir, _ = future.result()
                say(f"  [{number}/{len(todo)}] {run_dir} ({_duration(time.monotonic() - started)})")
        except KeyboardInterrupt:
            for future in futures:
                future.cancel()
            raise


def _steps_to_solve(curve: list[dict[str, float]], solved_at: float) -> float | None:
    for row in curve:
        if row["mean_return"] >= solved_at:
            return row["steps"]
    return None


def _bench_rows(
    suite: SuiteConfig, planned: list[tuple[str, int, int, RunConfig, Path]]
) -> list[dict[str, Any]]:
    groups: dict[tuple[str, int], list[tuple[RunConfig, Path]]] = {}
    for agent, index, _, config, run_dir in planned:
        groups.setdefault((agent, index), []).append((config, run_dir))
    rows = []
    for (agent, index), runs in groups.items():
        entry = suite.envs[index]
        finals, solve_steps, seconds = [], [], []
        for config, run_dir in runs:
            if not is_finished(run_dir, config):
                continue
            result = EvalResult.from_dict(json.loads((run_dir / EVAL_FILE).read_text()))
            finals.append(result.mean_return)
            seconds.append(result.train_seconds or math.nan)
            solve_steps.append(_steps_to_solve(_read_curve(run_dir), entry.solved_at))
        reached = [s for s in solve_steps if s is not None]
        rows.append(
            dict(
                agent=agent,
                env=entry.env_config().label,
                steps=runs[0][0].steps,
                solved_at=entry.solved_at,
                runs=len(finals),
                final_return_mean=float(np.mean(finals)) if finals else math.nan,
                final_return_std=float(np.std(finals)) if finals else math.nan,
                solved_runs=sum(final >= entry.solved_at for final in finals),
                steps_to_solve_mean=float(np.mean(reached)) if reached else math.nan,
                train_seconds_mean=float(np.nanmean(seconds)) if seconds else math.nan,
            )
        )
    return rows


def _fmt(value: Any, digits: int = 2) -> str:
    if isinstance(value, float):
        return "–" if math.isnan(value) else f"{value:.{digits}f}"
    return str(value)


def _write_results(
    out_dir: Path,
    suite: SuiteConfig,
    rows: list[dict[str, Any]],
    planned: list[tuple[str, int, int, RunConfig, Path]],
    steps_scale: float,
) -> str:
    out_dir.mkdir(parents=True, exist_ok=True)
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write(out_dir / "results.csv", text.getvalue())

    lines = [
        f"# {suite.name}: results",
        "",
        f"Final return: deterministic evaluation after the whole budget (x{steps_scale:g} of "
        "the suite's), mean ± std over seeds. Solved runs: final return at or above solved_at. "
        "Steps to solve: first learning-curve evaluation (fewer episodes) at or above solved_at, "
        "mean over the runs that got there.",
        "",
        "| agent | env | steps | final return | solved runs | steps to solve | time/run |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        seconds = row["train_seconds_mean"]
        lines.append(
            f"| {row['agent']} | {row['env']} | {row['steps']:,} | "
            f"{_fmt(row['final_return_mean'])} ± {_fmt(row['final_return_std'])} | "
            f"{row['solved_runs']}/{row['runs']} (>= {row['solved_at']:g}) | "
            f"{_fmt(row['steps_to_solve_mean'], 0)} | "
            f"{'–' if math.isnan(seconds) else _duration(seconds)} |"
        )
    markdown = "\n".join(lines) + "\n"
    atomic_write(out_dir / "results.md", markdown)
    _plot_curves(out_dir / "learning_curves.png", suite, planned)
    return markdown


def _plot_curves(
    path: Path, suite: SuiteConfig, planned: list[tuple[str, int, int, RunConfig, Path]]
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    count = len(suite.envs)
    columns = min(3, count)
    rows = math.ceil(count / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(5 * columns, 3.6 * rows), squeeze=False)
    agents = list(dict.fromkeys(agent for agent, *_ in planned))
    colours = plt.get_cmap("tab10")
    for index, entry in enumerate(suite.envs):
        axis = axes[index // columns][index % columns]
        for number, agent in enumerate(agents):
            curves = [
                _read_curve(run_dir) for a, i, _, _, run_dir in planned if a == agent and i == index
            ]
            curves = [c for c in curves if c]
            if not curves:
                continue
            grid = np.unique(np.concatenate([[r["steps"] for r in c] for c in curves]))
            values = np.stack(
                [
                    np.interp(grid, [r["steps"] for r in c], [r["mean_return"] for r in c])
                    for c in curves
                ]
            )
            colour = colours(number % 10)
            axis.plot(grid, values.mean(0), label=agent, color=colour)
            if len(curves) > 1:
                axis.fill_between(grid, values.min(0), values.max(0), color=colour, alpha=0.2)
        axis.axhline(entry.solved_at, color="grey", linestyle="--", linewidth=1)
        axis.set_title(entry.env_config().label, fontsize=10)
        axis.set_xlabel("environment steps")
        axis.set_ylabel("eval return")
        axis.legend(fontsize=8)
    for index in range(count, rows * columns):
        axes[index // columns][index % columns].axis("off")
    figure.suptitle(f"{suite.name}: mean over seeds (band: min-max); dashed: solved_at")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    plt.close(figure)
    atomic_write(path, buffer.getvalue())
