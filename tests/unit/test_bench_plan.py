"""Benchmarks without training: planning (PlannedRun), the backend interface and the report.

A stub backend "trains" a run by writing what a finished run leaves behind (config.yaml,
model.zip, eval.json, curve.csv), so these tests take seconds.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import pytest

from memrl.config import ConfigError, SuiteConfig
from memrl.run import (
    Backend,
    EvalResult,
    LocalBackend,
    PlannedRun,
    bench,
    is_finished,
    plan_runs,
)
from memrl.run.files import MODEL_FILE, add_curve_row, read_eval, write_config, write_eval
from memrl.run.plan import pending_runs
from memrl.run.report import _limit_to_trained

AGENTS = ["mlp", "lstm"]


@pytest.fixture
def suite() -> SuiteConfig:
    return SuiteConfig.from_dict(
        {
            "name": "stub",
            "envs": [
                {
                    "id": "memrl/TMaze-v0",
                    "kwargs": {"corridor_length": 2},
                    "steps": 400,
                    "solved_at": 0.9,
                    "eval_episodes": 50,
                },
                {"id": "memrl/Copy-v0", "steps": 1000, "solved_at": 0.95, "eval_episodes": 4},
            ],
        },
        "test suite",
    )


def final_return(run: PlannedRun) -> float:
    """A made-up final return: lstm solves everything, mlp nothing."""
    return 1.0 if run.agent == "lstm" else 0.25 * (run.seed + 1)


def finish(run: PlannedRun) -> None:
    """Leave behind what a finished training run writes."""
    run.run_dir.mkdir(parents=True, exist_ok=True)
    write_config(run.run_dir, run.config)
    (run.run_dir / MODEL_FILE).write_bytes(b"not a model")
    curve: list[dict[str, float]] = []
    final = final_return(run)
    for steps, value in ((0, 0.0), (run.config.steps // 2, final), (run.config.steps, final)):
        row = dict(steps=float(steps), mean_return=value, std_return=0.0, seconds=1.0)
        add_curve_row(run.run_dir, curve, {**row, "success_rate": math.nan, "train_return": 0.0})
    result = EvalResult(final, 0.0, None, 4, True, 0.9, final >= 0.9, run.config.steps)
    write_eval(run.run_dir, {**result.to_dict(), "train_seconds": 30.0})


class StubBackend:
    """Records what it is asked to run and finishes those runs without training."""

    description = "stubbed"

    def __init__(self) -> None:
        self.calls: list[list[PlannedRun]] = []

    def run(
        self,
        runs: Sequence[PlannedRun],
        say: Callable[[str], None],
        finished: Callable[[PlannedRun], None],
    ) -> None:
        self.calls.append(list(runs))
        for run in runs:
            finish(run)
            finished(run)


class InterruptedBackend(StubBackend):
    """Finishes ``count`` runs, then stops as Ctrl-C (or a killed process) would."""

    def __init__(self, count: int) -> None:
        super().__init__()
        self.count = count

    def run(self, runs, say, finished) -> None:
        super().run(runs[: self.count], say, finished)
        raise KeyboardInterrupt


def test_the_stub_is_a_backend() -> None:
    backend: Backend = StubBackend()
    assert backend.description == "stubbed"
    assert LocalBackend(2).description == "2 at a time"


def test_plan_runs_one_per_agent_env_and_seed_first_seeds_first(suite, tmp_path) -> None:
    overrides = ["n_envs=2", "env.eval_episodes=8"]
    planned = plan_runs(suite, AGENTS, 2, tmp_path, steps_scale=0.5, overrides=overrides)
    assert [(r.agent, r.env_index, r.seed) for r in planned] == [
        (agent, index, seed) for seed in (0, 1) for agent in AGENTS for index in (0, 1)
    ]
    first, copy = planned[0], planned[1]
    assert first.run_dir == tmp_path / "runs" / "mlp" / "0-TMaze-v0_corridor_length=2" / "seed0"
    second_seed = planned[len(AGENTS) * 2]
    assert second_seed.run_dir.name == "seed1" and second_seed.config.seed == 1
    assert first.config.steps == 200 and copy.config.steps == 500
    assert (first.config.checkpoint_every, first.config.eval_every) == (50, 20)
    # The suite's env, with the env. override on top; curves use at most 20 episodes.
    assert first.config.env.kwargs == {"corridor_length": 2}
    assert first.config.env.eval_episodes == 8 and first.config.curve_episodes == 8
    assert first.config.env.solved_at == 0.9 and copy.config.env.solved_at == 0.95
    assert first.config.agent.n_envs == 2
    with pytest.raises(AttributeError):
        first.seed = 3  # frozen


def test_backend_gets_exactly_the_unfinished_runs(suite, tmp_path) -> None:
    planned = plan_runs(suite, AGENTS, 2, tmp_path)
    finish(planned[0])
    finish(planned[5])
    # Started but interrupted (a config and no evaluation): still to run, resumed.
    planned[3].run_dir.mkdir(parents=True)
    write_config(planned[3].run_dir, planned[3].config)
    messages: list[str] = []
    backend = StubBackend()
    result = bench(suite, AGENTS, seeds=2, out=tmp_path, log=messages.append, backend=backend)
    assert backend.calls == [[r for i, r in enumerate(planned) if i not in (0, 5)]]
    assert (result.ran, result.skipped) == (6, 2)
    assert messages == [f"bench stub: 8 runs (2 already finished), stubbed -> {tmp_path}"]
    assert all(is_finished(r.run_dir, r.config) for r in planned)

    again = StubBackend()
    rerun = bench(suite, AGENTS, seeds=2, out=tmp_path, log=None, backend=again)
    assert again.calls == [[]]
    assert (rerun.ran, rerun.skipped) == (0, 8)
    assert rerun.rows == result.rows and rerun.markdown == result.markdown


def test_a_finished_run_kept_without_its_model_is_not_trained_again(suite, tmp_path) -> None:
    planned = plan_runs(suite, AGENTS, 1, tmp_path)
    for run in planned:
        finish(run)
        (run.run_dir / MODEL_FILE).unlink()
    backend = StubBackend()
    result = bench(suite, AGENTS, seeds=1, out=tmp_path, log=None, backend=backend)
    assert backend.calls == [[]] and result.skipped == len(planned)
    assert all(row["runs"] == 1 for row in result.rows)


def test_an_evaluation_short_of_the_budget_is_not_finished(suite, tmp_path) -> None:
    run = plan_runs(suite, AGENTS, 1, tmp_path)[0]
    finish(run)
    short = {**read_eval(run.run_dir), "steps": run.config.steps - 1}
    write_eval(run.run_dir, short)
    assert not is_finished(run.run_dir, run.config)


def test_the_tables_follow_each_finished_run(suite, tmp_path) -> None:
    with pytest.raises(KeyboardInterrupt):
        bench(suite, AGENTS, seeds=2, out=tmp_path, log=None, backend=InterruptedBackend(3))
    markdown = (tmp_path / "results.md").read_text()
    assert "**3 of 8 planned runs finished**" in markdown
    # Seed 0 first: mlp on both envs, then lstm on the first.
    assert (
        "| mlp | TMaze-v0 corridor_length=2 | 400 | 0.25 ± 0.00 | 0/1 of 2 planned (>= 0.9) |"
        in markdown
    )
    assert "| mlp | Copy-v0 | 1,000 | 0.25 ± 0.00 | 0/1 of 2 planned (>= 0.95) |" in markdown
    assert (
        "| lstm | TMaze-v0 corridor_length=2 | 400 | 1.00 ± 0.00 | 1/1 of 2 planned (>= 0.9) |"
        in markdown
    )
    assert "| lstm | Copy-v0 | 1,000 | – | 0/0 of 2 planned (>= 0.95) |" in markdown
    rows = (tmp_path / "results.csv").read_text().splitlines()[1:]
    assert [(row.split(",")[4], row.split(",")[-1]) for row in rows] == [
        ("1", "2"), ("1", "2"), ("1", "2"), ("0", "2")
    ]  # fmt: skip
    # Run again to the end: the note goes.
    assert (
        "planned runs finished"
        not in bench(suite, AGENTS, seeds=2, out=tmp_path, log=None, backend=StubBackend()).markdown
    )


def test_results_are_tabulated_from_the_run_directories(suite, tmp_path) -> None:
    first = bench(suite, AGENTS, seeds=2, out=tmp_path / "a", log=None, backend=StubBackend())
    assert [(row["agent"], row["env"]) for row in first.rows] == [
        ("mlp", "TMaze-v0 corridor_length=2"),
        ("mlp", "Copy-v0"),
        ("lstm", "TMaze-v0 corridor_length=2"),
        ("lstm", "Copy-v0"),
    ]
    mlp, _, lstm, _ = first.rows
    assert mlp["runs"] == 2 and mlp["solved_runs"] == 0
    assert mlp["final_return_mean"] == pytest.approx(0.375)
    assert math.isnan(mlp["steps_to_solve_mean"])
    assert lstm["solved_runs"] == 2 and lstm["steps_to_solve_mean"] == 200.0
    assert lstm["train_seconds_mean"] == 30.0
    assert lstm["train_fps_mean"] == pytest.approx(400 / 30.0)
    markdown = (tmp_path / "a" / "results.md").read_text()
    assert markdown == first.markdown and markdown.startswith("# stub: results")
    assert (
        "| lstm | TMaze-v0 corridor_length=2 | 400 | 1.00 ± 0.00 | 2/2 (>= 0.9) | 200 | 30s | 13 |"
        in (markdown)
    )
    assert "| mlp | Copy-v0 | 1,000 | 0.38 ± 0.12 | 0/2 (>= 0.95) | – | 30s | 33 |" in markdown
    csv_lines = (tmp_path / "a" / "results.csv").read_text().splitlines()
    assert csv_lines[0] == (
        "agent,env,steps,solved_at,runs,final_return_mean,final_return_std,solved_runs,"
        "steps_to_solve_mean,train_seconds_mean,train_fps_mean,planned_runs"
    )
    assert len(csv_lines) == 5
    assert (tmp_path / "a" / "learning_curves.png").read_bytes()[:4] == b"\x89PNG"
    # The same runs, finished by another backend elsewhere: the same tables.
    second = bench(suite, AGENTS, seeds=2, out=tmp_path / "b", log=None, backend=StubBackend())
    assert second.markdown == first.markdown
    assert (tmp_path / "b" / "results.csv").read_text() == "\n".join(csv_lines) + "\n"


def test_step_counts_are_written_with_thousands_separators(suite, tmp_path) -> None:
    result = bench(suite, ["lstm"], out=tmp_path, log=None, backend=StubBackend(), steps_scale=10)
    assert "| lstm | TMaze-v0 corridor_length=2 | 4,000 | 1.00 ± 0.00 | 1/1 (>= 0.9) | 2,000 |" in (
        result.markdown
    )


def test_a_run_directory_of_another_configuration_is_refused(suite, tmp_path) -> None:
    planned = plan_runs(suite, AGENTS, 1, tmp_path)
    planned[0].run_dir.mkdir(parents=True)
    write_config(planned[0].run_dir, planned[0].config.replace(seed=7))
    with pytest.raises(ConfigError, match="another configuration"):
        pending_runs(planned)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"seeds": 0}, "seeds must be an integer >= 1, got 0"),
        ({"jobs": 0}, "jobs must be an integer >= 1, got 0"),
        ({"steps_scale": 0.0}, "steps_scale must be a finite number > 0, got 0.0"),
    ],
)
def test_bench_arguments_are_checked(suite, tmp_path, arguments, message) -> None:
    with pytest.raises(ValueError, match=message):
        bench(suite, AGENTS, out=tmp_path, log=None, **arguments)


def test_bench_needs_agents(suite, tmp_path) -> None:
    with pytest.raises(ValueError, match="no agents given"):
        bench(suite, [], out=tmp_path, log=None, backend=StubBackend())


def test_an_empty_plan_leaves_a_local_backend_idle() -> None:
    LocalBackend(1).run([], lambda _: pytest.fail("nothing ran"), lambda _: pytest.fail("no run"))


def test_some_agents_get_other_seed_counts(suite, tmp_path) -> None:
    planned = plan_runs(suite, AGENTS, 3, tmp_path, agent_seeds={"mlp": 1})
    seeds = {(run.agent, run.env_index): [] for run in planned}
    for run in planned:
        seeds[run.agent, run.env_index].append(run.seed)
    assert seeds == {
        ("mlp", 0): [0],
        ("mlp", 1): [0],
        ("lstm", 0): [0, 1, 2],
        ("lstm", 1): [0, 1, 2],
    }
    # The same run directories as a plan of that agent alone: benches of one --out combine.
    assert {run.run_dir for run in planned if run.agent == "mlp"} == {
        run.run_dir for run in plan_runs(suite, ["mlp"], 1, tmp_path)
    }


@pytest.mark.parametrize(
    ("agent_seeds", "message"),
    [
        ({"gru": 2}, r"an agent given seeds must be one of the agents \(mlp, lstm\), got gru"),
        ({"mlp": 0}, "seeds of mlp must be an integer >= 1, got 0"),
    ],
)
def test_agent_seed_counts_are_checked(suite, tmp_path, agent_seeds, message) -> None:
    with pytest.raises(ValueError, match=message):
        plan_runs(suite, AGENTS, 1, tmp_path, agent_seeds=agent_seeds)


@pytest.mark.parametrize(
    ("trained", "solved_at", "limits"),
    [
        # The untrained -40 is not among them: the axis fits 0.1 .. 0.9 (5% margins).
        ([np.array([0.1, 0.5]), np.array([0.9, math.nan])], 0.9, (0.06, 0.94)),
        ([np.array([-1.0, 1.0])], 0.5, (-1.1, 1.1)),
        ([], 0.9, (0.8, 1.0)),  # nothing after step 0 yet: around the bar
    ],
)
def test_the_plot_fits_the_returns_after_step_0_and_the_bar(trained, solved_at, limits) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots()
    axis.plot([0, 10, 20], [-40.0, 0.1, 0.9])
    _limit_to_trained(axis, trained, solved_at)
    assert axis.get_ylim() == pytest.approx(limits)
    plt.close(figure)
