"""Benchmarks: every agent on every env of a suite with several seeds.

A benchmark is planned (:func:`~memrl.run.plan.plan_runs`: one
:class:`~memrl.run.plan.PlannedRun` per agent, env and seed),
the runs not yet finished are handed to a :class:`Backend` that trains them, and the results
of all planned runs are tabulated (:mod:`memrl.run.report`). A backend only executes runs:
another one (a cluster, a tuner) plugs in without touching planning or reporting.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from memrl.checks import check_int, check_number
from memrl.config import AgentConfig, SuiteConfig, load_suite
from memrl.run.device import set_threads
from memrl.run.evaluate import format_duration
from memrl.run.files import CONFIG_FILE
from memrl.run.plan import PlannedRun, pending_runs, plan_runs
from memrl.run.report import bench_rows, write_results
from memrl.run.train import train
from memrl.signals import raise_interrupt, stop_signals

if TYPE_CHECKING:
    from stable_baselines3.common.callbacks import BaseCallback

__all__ = ["Backend", "BenchResult", "LocalBackend", "bench", "default_out_dir", "train_planned"]


class Backend(Protocol):
    """Executes planned runs: trains each one into its ``run_dir`` until it is finished
    (:func:`~memrl.run.files.is_finished`), resuming a run whose directory holds a checkpoint.
    """

    @property
    def description(self) -> str:
        """How runs are executed, for the log (e.g. ``2 at a time``)."""
        ...

    def run(
        self,
        runs: Sequence[PlannedRun],
        say: Callable[[str], None],
        finished: Callable[[PlannedRun], None],
    ) -> None:
        """Train ``runs``; as each one finishes, tell ``say`` and call ``finished`` with it
        (in this process). Raises ``KeyboardInterrupt`` when interrupted (the interrupted runs
        keep their checkpoints)."""
        ...


def train_planned(
    run: PlannedRun, threads: int = 1, callbacks: Sequence[BaseCallback] = ()
) -> tuple[Path, bool]:
    """Train one planned run (resuming it if it was started), torch on ``threads`` threads,
    quietly, with extra SB3 ``callbacks``; returns its directory and whether it finished
    (``False``: interrupted)."""
    set_threads(threads)
    resume = (run.run_dir / CONFIG_FILE).exists()
    result = train(
        run.config, run.run_dir, resume=resume, callbacks=callbacks, progress=False, log=None
    )
    return run.run_dir, not result.interrupted


class LocalBackend:
    """Runs on this machine: one after another in this process for ``jobs == 1``, else in
    ``jobs`` spawned worker processes (torch uses one thread in each)."""

    def __init__(self, jobs: int = 1) -> None:
        self.jobs = check_int("jobs", jobs, minimum=1)

    @property
    def description(self) -> str:
        return f"{self.jobs} at a time"

    def run(
        self,
        runs: Sequence[PlannedRun],
        say: Callable[[str], None],
        finished: Callable[[PlannedRun], None],
    ) -> None:
        if not runs:
            return
        started = time.monotonic()

        def done(number: int, run: PlannedRun) -> None:
            elapsed = format_duration(time.monotonic() - started)
            say(f"  [{number}/{len(runs)}] {run.run_dir} ({elapsed})")
            finished(run)

        if self.jobs == 1:
            for number, run in enumerate(runs, 1):
                if not train_planned(run)[1]:  # Ctrl-C: the run saved a checkpoint; stop too
                    raise KeyboardInterrupt
                done(number, run)
            return
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=self.jobs, mp_context=context) as pool:
            futures = {pool.submit(train_planned, run): run for run in runs}
            try:
                with stop_signals(raise_interrupt):
                    for number, future in enumerate(as_completed(futures), 1):
                        if not future.result()[1]:  # the worker was stopped and saved
                            raise KeyboardInterrupt
                        done(number, futures[future])
            except KeyboardInterrupt:
                for future in futures:
                    future.cancel()
                raise


def default_out_dir(suite: SuiteConfig) -> Path:
    """Where a benchmark of ``suite`` writes unless told otherwise: ``results/<suite>``."""
    return Path("results") / suite.name


@dataclass(frozen=True)
class BenchResult:
    """A benchmark's outputs: the results directory, the table rows and the Markdown table,
    how many runs were trained now and how many had finished before."""

    out_dir: Path
    rows: list[dict[str, Any]]
    markdown: str
    ran: int
    skipped: int


def bench(
    suite: str | Path | SuiteConfig,
    agents: Sequence[str | Path | AgentConfig],
    seeds: int = 1,
    jobs: int = 1,
    out: str | Path | None = None,
    steps_scale: float = 1.0,
    overrides: Sequence[str] = (),
    log: Callable[[str], None] | None = print,
    backend: Backend | None = None,
    agent_seeds: Mapping[str, int] | None = None,
) -> BenchResult:
    """Train every agent on every env of a suite with ``seeds`` seeds.

    Runs go to ``out/runs/<agent>/<env index>-<env slug>/seed<k>``; finished ones
    (``eval.json``) are skipped, interrupted ones resume from their checkpoint, so re-running
    an interrupted bench picks up where it stopped. Writes ``results.md``, ``results.csv`` and
    ``learning_curves.png`` into ``out`` (default ``results/<suite>``) after every finished
    run and at the end.

    Args:
        suite: suite name, YAML path or config.
        agents: agent preset names, YAML paths or configs.
        seeds: seeds 0 .. seeds-1 per agent and env.
        jobs: parallel worker processes of the default backend, ``LocalBackend(jobs)``.
        out: results directory.
        steps_scale: multiplies every budget (e.g. 0.1 for a quick try).
        overrides: ``--set`` overrides for every run (as in :func:`make_run_config`).
        log: where progress messages go (``None``: nowhere).
        backend: what trains the runs (default ``LocalBackend(jobs)``).
        agent_seeds: seed counts of some agents (preset name -> count) instead of ``seeds``.
    """
    say = log or (lambda _: None)
    suite_config = suite if isinstance(suite, SuiteConfig) else load_suite(suite)
    steps_scale = check_number("steps_scale", steps_scale, positive=True)
    backend = backend or LocalBackend(jobs)
    if not agents:
        raise ValueError("no agents given")
    out_dir = Path(out) if out is not None else default_out_dir(suite_config)
    planned = plan_runs(suite_config, agents, seeds, out_dir, steps_scale, overrides, agent_seeds)
    pending = pending_runs(planned)
    skipped = len(planned) - len(pending)
    say(
        f"bench {suite_config.name}: {len(planned)} runs ({skipped} already finished), "
        f"{backend.description} -> {out_dir}"
    )

    def report() -> tuple[list[dict[str, Any]], str]:
        rows = bench_rows(suite_config, planned)
        return rows, write_results(out_dir, suite_config, rows, planned, steps_scale)

    # The tables follow every finished run: a grid of many hours, interrupted, still shows
    # what it has so far.
    backend.run(pending, say, lambda run: report())
    rows, markdown = report()
    return BenchResult(out_dir, rows, markdown, len(pending), skipped)
