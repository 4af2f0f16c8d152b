"""What runs inside Ray Tune for :class:`~memrl.run.ray_backend.RayBackend`: the trial
function, trial names and the progress callback. Imports Ray: only the Ray backend imports
this module, once it has checked that Ray is there.

Tune pickles all of these with its experiment (to restore it), so they live at module level
and hold no state of the bench that runs them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from ray import tune
from stable_baselines3.common.callbacks import BaseCallback

from memrl.config import RunConfig
from memrl.run.bench import train_planned
from memrl.run.files import is_finished, read_curve
from memrl.run.plan import PlannedRun

__all__ = ["CurveReporter", "Progress", "listening", "plain", "train_trial", "trial_name"]


def plain(value: Any) -> Any:
    """``value`` with numpy scalars (Tune's search spaces sample them) as Python numbers,
    through nested dicts, lists and tuples: SB3 and the config reader want Python types."""
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(plain(item) for item in value)
    if isinstance(value, np.generic):
        return value.item()
    return value


class CurveReporter(BaseCallback):
    """Reports each new row of the run's ``curve.csv`` to Tune (``tune.report``), so Ray's
    dashboard and TensorBoard follow the learning curve. Runs after memrl's own callback,
    which writes the rows between rollouts."""

    def __init__(self, run_dir: Path, labels: dict[str, Any]) -> None:
        super().__init__()
        self.run_dir = run_dir
        self.labels = labels
        self.reported = -1.0

    def report_new(self) -> None:
        """Report the rows after the last reported step."""
        for row in read_curve(self.run_dir):
            if row["steps"] > self.reported:
                tune.report({**self.labels, **row})
                self.reported = row["steps"]

    def _on_rollout_start(self) -> None:
        self.report_new()

    def _on_step(self) -> bool:
        return True


def train_trial(config: dict[str, Any]) -> None:
    """A Tune trial: train the run in ``config["run"]`` (a
    :func:`~memrl.run.ray_backend.trial_spec`) with :func:`~memrl.run.bench.train_planned`,
    torch on as many threads as the trial has CPUs, reporting its learning curve. A run
    whose directory says it finished (a restored experiment) only reports."""
    spec = plain(config["run"])
    run_dir = Path(spec["run_dir"])
    run_config = RunConfig.from_dict(spec["config"], f"Tune trial {spec['name']}")
    run = PlannedRun(spec["agent"], spec["env_index"], spec["seed"], run_config, run_dir)
    labels = {"agent": run.agent, "env_index": run.env_index, "seed": run.seed}
    reporter = CurveReporter(run_dir, labels)
    if not is_finished(run_dir, run_config):
        cpus = tune.get_context().get_trial_resources().required_resources.get("CPU", 1)
        _, finished = train_planned(run, threads=max(1, int(cpus)), callbacks=[reporter])
        if not finished:
            raise RuntimeError(f"training of {run_dir} was interrupted")
    reporter.report_new()


def trial_name(trial: Any) -> str:
    """A trial's name and directory: ``<agent>.<env index>.seed<k>``."""
    return trial.config["run"]["name"]


_listener: Callable[[str], None] | None = None


@contextlib.contextmanager
def listening(listener: Callable[[str], None]) -> Iterator[None]:
    """Within the block, :class:`Progress` calls ``listener(run_dir)`` for each finished trial.
    (A module-level hook: Tune restores the callback of an earlier sweep from its pickle.)"""
    global _listener
    _listener = listener
    try:
        yield
    finally:
        _listener = None


class Progress(tune.Callback):
    """Tells the current :func:`listening` block about each trial that completes."""

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        if _listener is not None:
            _listener(trial.config["run"]["run_dir"])
