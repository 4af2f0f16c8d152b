"""A benchmark's results: one row per agent and env over its seeds, written as
``results.csv``, ``results.md`` and ``learning_curves.png``."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from memrl.atomic import atomic_write
from memrl.config import SuiteConfig
from memrl.run.evaluate import EvalResult, format_duration
from memrl.run.files import is_finished, read_curve, read_eval
from memrl.run.plan import PlannedRun

__all__ = ["RESULT_COLUMNS", "bench_rows", "plot_curves", "write_results"]

RESULT_COLUMNS = (
    "agent",
    "env",
    "steps",
    "solved_at",
    "runs",
    "final_return_mean",
    "final_return_std",
    "solved_runs",
    "steps_to_solve_mean",
    "train_seconds_mean",
    "train_fps_mean",
    "planned_runs",
)


def _steps_to_solve(curve: list[dict[str, float]], solved_at: float) -> float | None:
    for row in curve:
        if row["mean_return"] >= solved_at:
            return row["steps"]
    return None


def _groups(planned: Sequence[PlannedRun]) -> dict[tuple[str, int], list[PlannedRun]]:
    """The planned runs by (agent, env index), in planning order."""
    groups: dict[tuple[str, int], list[PlannedRun]] = {}
    for run in planned:
        groups.setdefault((run.agent, run.env_index), []).append(run)
    return groups


def bench_rows(suite: SuiteConfig, planned: Sequence[PlannedRun]) -> list[dict[str, Any]]:
    """One row (:data:`RESULT_COLUMNS`) per agent and env over the finished runs of its seeds
    (``runs`` of ``planned_runs``); means are NaN when no run finished."""
    rows = []
    for (agent, index), runs in _groups(planned).items():
        env = suite.envs[index].env
        solved_at = env.solved_at
        finals, solve_steps, seconds, fps = [], [], [], []
        for run in runs:
            if not is_finished(run.run_dir, run.config):
                continue
            result = EvalResult.from_dict(read_eval(run.run_dir))
            finals.append(result.mean_return)
            seconds.append(result.train_seconds or math.nan)
            fps.append(
                run.config.steps / result.train_seconds if result.train_seconds else math.nan
            )
            solve_steps.append(_steps_to_solve(read_curve(run.run_dir), solved_at))
        reached = [s for s in solve_steps if s is not None]
        values = (
            agent,
            env.label,
            runs[0].config.steps,
            solved_at,
            len(finals),
            float(np.mean(finals)) if finals else math.nan,
            float(np.std(finals)) if finals else math.nan,
            sum(final >= solved_at for final in finals),
            float(np.mean(reached)) if reached else math.nan,
            _nan_mean(seconds),
            _nan_mean(fps),
            len(runs),
        )
        rows.append(dict(zip(RESULT_COLUMNS, values, strict=True)))
    return rows


def _nan_mean(values: list[float]) -> float:
    """The mean of the values that are not NaN (NaN when none is)."""
    known = [v for v in values if not math.isnan(v)]
    return float(np.mean(known)) if known else math.nan


def _mean_std(mean: float, std: float) -> str:
    """``0.50 ± 0.10``, or ``–`` before any run finished."""
    return "–" if math.isnan(mean) else f"{_fmt(mean)} ± {_fmt(std)}"


def _unfinished(row: dict[str, Any]) -> str:
    """`` of 3 planned`` when fewer of a row's runs finished than were planned."""
    return "" if row["runs"] == row["planned_runs"] else f" of {row['planned_runs']} planned"


def _steps(value: float) -> str:
    """``200,704`` (as the budget column), or ``–`` when no run got there."""
    return "–" if math.isnan(value) else f"{round(value):,}"


def _fmt(value: Any, digits: int = 2) -> str:
    if isinstance(value, float):
        return "–" if math.isnan(value) else f"{value:.{digits}f}"
    return str(value)


def _markdown(
    suite: SuiteConfig, rows: list[dict[str, Any]], steps_scale: float, planned: int
) -> str:
    finished = sum(row["runs"] for row in rows)
    progress = (
        []
        if finished == planned
        else [
            f"**{finished} of {planned} planned runs finished**: the same command again "
            "trains the others (unfinished runs resume from their checkpoints). A row's "
            "figures are over its finished runs.",
            "",
        ]
    )
    lines = [
        f"# {suite.name}: results",
        "",
        *progress,
        f"Final return: deterministic evaluation after the whole budget (x{steps_scale:g} of "
        "the suite's), mean ± std over seeds. Solved runs: final return at or above solved_at. "
        "Steps to solve: first learning-curve evaluation (fewer episodes) at or above solved_at, "
        "mean over the runs that got there. Time and fps: wall time of training per run and "
        "environment steps per second of it (learning-curve evaluations included).",
        "",
        "| agent | env | steps | final return | solved runs | steps to solve | time/run | fps |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        seconds = row["train_seconds_mean"]
        lines.append(
            f"| {row['agent']} | {row['env']} | {row['steps']:,} | "
            f"{_mean_std(row['final_return_mean'], row['final_return_std'])} | "
            f"{row['solved_runs']}/{row['runs']}{_unfinished(row)} (>= {row['solved_at']:g}) | "
            f"{_steps(row['steps_to_solve_mean'])} | "
            f"{'–' if math.isnan(seconds) else format_duration(seconds)} | "
            f"{_fmt(row['train_fps_mean'], 0)} |"
        )
    return "\n".join(lines) + "\n"


def write_results(
    out_dir: Path,
    suite: SuiteConfig,
    rows: list[dict[str, Any]],
    planned: Sequence[PlannedRun],
    steps_scale: float,
) -> str:
    """Write ``results.csv``, ``results.md`` and ``learning_curves.png`` into ``out_dir``;
    returns the Markdown."""
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=RESULT_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write(out_dir / "results.csv", text.getvalue())
    markdown = _markdown(suite, rows, steps_scale, len(planned))
    atomic_write(out_dir / "results.md", markdown)
    plot_curves(out_dir / "learning_curves.png", suite, planned)
    return markdown


def plot_curves(path: Path, suite: SuiteConfig, planned: Sequence[PlannedRun]) -> None:
    """One panel per env: each agent's learning curve, mean over seeds (interpolated onto the
    union of their evaluation steps) with a min-max band, and the env's ``solved_at``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    count = len(suite.envs)
    columns = min(3, count)
    rows = math.ceil(count / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(5 * columns, 3.6 * rows), squeeze=False)
    groups = _groups(planned)
    agents = list(dict.fromkeys(run.agent for run in planned))
    colours = plt.get_cmap("tab10")
    for index, entry in enumerate(suite.envs):
        axis = axes[index // columns][index % columns]
        trained: list[np.ndarray] = []  # the returns after step 0, for the y-axis
        for number, agent in enumerate(agents):
            curves = [read_curve(run.run_dir) for run in groups.get((agent, index), [])]
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
            trained.append(values[:, grid > 0].ravel())
            colour = colours(number % 10)
            axis.plot(grid, values.mean(0), label=agent, color=colour)
            if len(curves) > 1:
                axis.fill_between(grid, values.min(0), values.max(0), color=colour, alpha=0.2)
        axis.axhline(entry.env.solved_at, color="grey", linestyle="--", linewidth=1)
        _limit_to_trained(axis, trained, entry.env.solved_at)
        axis.set_title(entry.env.label, fontsize=10)
        axis.set_xlabel("environment steps")
        axis.set_ylabel("eval return")
        if axis.get_legend_handles_labels()[0]:  # an env no run has reached yet: no legend
            axis.legend(fontsize=8)
    for index in range(count, rows * columns):
        axes[index // columns][index % columns].axis("off")
    figure.suptitle(
        f"{suite.name}\nmean over seeds (band: min-max); dashed: solved_at; "
        "y-axis: the returns after step 0",
        fontsize=10,
    )
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    plt.close(figure)
    atomic_write(path, buffer.getvalue())


def _limit_to_trained(axis: Any, trained: list[np.ndarray], solved_at: float) -> None:
    """Fit the y-axis to the returns after step 0 and the bar: an untrained policy's return
    can be far below everything after it (-40 from bumps in the T-maze at corridor 100) and
    would flatten every curve into a line."""
    values = np.concatenate([*trained, [solved_at]])
    values = values[np.isfinite(values)]
    low, high = float(values.min()), float(values.max())
    margin = 0.05 * (high - low) or 0.1
    axis.set_ylim(low - margin, high + margin)
