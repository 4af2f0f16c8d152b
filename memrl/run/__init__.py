"""Training runs, evaluation and benchmarks: the library under the ``memrl`` command and scripts.

A **run directory** holds everything about one training run (:mod:`memrl.run.files`):

==================  ======================================================================
``config.yaml``     the resolved :class:`~memrl.config.RunConfig` (train it again: same result)
``checkpoint.zip``  the latest checkpoint (atomic; every ``checkpoint_every`` steps, on
                    Ctrl-C and at the end); ``progress.json`` beside it: steps, seconds
``curve.csv``       the learning curve: an evaluation every ``eval_every`` steps
``tb/``             TensorBoard logs (``tensorboard --logdir <run dir>``)
``model.zip``       the final model (``MemoryPPO.load`` / ``PPO.load``)
``eval.json``       the final evaluation (:class:`EvalResult`); its presence marks a finished run
==================  ======================================================================

Files are written atomically (:func:`memrl.atomic.atomic_write`), so an interrupted run never
leaves a half-written file behind.

Modules: :mod:`~memrl.run.files` (the run directory), :mod:`~memrl.run.device`,
:mod:`~memrl.run.models` (SB3 models and envs of a run), :mod:`~memrl.run.train`,
:mod:`~memrl.run.evaluate`, :mod:`~memrl.run.plan` (a benchmark's runs),
:mod:`~memrl.run.bench` (executing them: :class:`Backend`, :class:`LocalBackend`),
:mod:`~memrl.run.ray_backend` (:class:`RayBackend`: on Ray Tune, with
:mod:`~memrl.run.ray_trial` inside it) and :mod:`~memrl.run.report` (its tables and plot).

Public entry points: :func:`train`, :func:`evaluate`, :func:`evaluate_run`, :func:`bench`,
:func:`make_run_config`, :func:`load_model`.
"""

from memrl.atomic import atomic_write
from memrl.config import load_run_config
from memrl.run.bench import Backend, BenchResult, LocalBackend, bench, default_out_dir
from memrl.run.device import resolve_device, set_threads
from memrl.run.evaluate import EVAL_SEED_OFFSET, MAX_EVAL_ENVS, EvalResult, evaluate, evaluate_run
from memrl.run.files import (
    CHECKPOINT_FILE,
    CONFIG_FILE,
    CURVE_COLUMNS,
    CURVE_FILE,
    EVAL_FILE,
    MODEL_FILE,
    PROGRESS_FILE,
    default_run_dir,
    is_finished,
)
from memrl.run.models import load_model, make_model
from memrl.run.plan import PlannedRun, plan_runs
from memrl.run.ray_backend import RayBackend
from memrl.run.train import (
    DEFAULT_AGENT,
    DEFAULT_ENV,
    DEFAULT_STEPS,
    RunCallback,
    TrainResult,
    checkpoint,
    make_run_config,
    route_override,
    train,
)

__all__ = [
    "CHECKPOINT_FILE",
    "CONFIG_FILE",
    "CURVE_COLUMNS",
    "CURVE_FILE",
    "DEFAULT_AGENT",
    "DEFAULT_ENV",
    "DEFAULT_STEPS",
    "EVAL_FILE",
    "EVAL_SEED_OFFSET",
    "MAX_EVAL_ENVS",
    "MODEL_FILE",
    "PROGRESS_FILE",
    "Backend",
    "BenchResult",
    "EvalResult",
    "LocalBackend",
    "PlannedRun",
    "RayBackend",
    "RunCallback",
    "TrainResult",
    "atomic_write",
    "bench",
    "checkpoint",
    "default_out_dir",
    "default_run_dir",
    "evaluate",
    "evaluate_run",
    "is_finished",
    "load_model",
    "load_run_config",
    "make_model",
    "make_run_config",
    "plan_runs",
    "resolve_device",
    "route_override",
    "set_threads",
    "train",
]
