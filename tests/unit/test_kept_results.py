"""results/memory-hard, kept in the repository for docs/results.md: every run there is a run
that scripts/reproduce_memory_hard.py plans, configured as today's presets and suite say,
and finished, so the script skips it; the kept table is the one those runs give; and
docs/results.md shows that table and plot."""

from __future__ import annotations

import csv
import importlib.util
import math
from pathlib import Path

import pytest

from memrl.cli.arguments import seed_counts
from memrl.config import load_run_config, load_suite
from memrl.run import is_finished
from memrl.run.plan import PlannedRun, plan_runs
from memrl.run.report import RESULT_COLUMNS, bench_rows

REPO = Path(__file__).resolve().parents[2]
KEPT = REPO / "results" / "memory-hard"
SCRIPT = REPO / "scripts" / "reproduce_memory_hard.py"


def _script_plan() -> list[PlannedRun]:
    spec = importlib.util.spec_from_file_location("reproduce_memory_hard", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    seeds, agent_seeds = seed_counts(module.SEEDS)
    suite = load_suite("memory-hard")
    return plan_runs(suite, module.AGENTS.split(","), seeds, KEPT, agent_seeds=agent_seeds)


def _kept_run_dirs() -> list[Path]:
    """The runs with a final evaluation (a run still training here has none yet)."""
    return sorted(path.parent for path in KEPT.glob("runs/*/*/seed*/eval.json"))


def test_every_kept_run_is_a_finished_run_of_the_grid_as_configured_today() -> None:
    planned = {run.run_dir: run for run in _script_plan()}
    kept = _kept_run_dirs()
    assert kept, f"no runs in {KEPT}"
    for run_dir in kept:
        where = run_dir.relative_to(REPO)
        assert run_dir in planned, f"{where} is not a run that {SCRIPT.name} plans"
        run = planned[run_dir]
        assert load_run_config(run_dir / "config.yaml") == run.config, (
            f"{where} was trained with another configuration than the presets give today: "
            "train it again or keep the preset"
        )
        assert is_finished(run_dir, run.config), f"{where} is not finished"


def _number(text: str) -> float:
    return math.nan if text in ("", "nan") else float(text)


def test_the_kept_table_is_the_one_the_kept_runs_give() -> None:
    planned = _script_plan()
    expected = bench_rows(load_suite("memory-hard"), planned)
    with open(KEPT / "results.csv", newline="") as file:
        kept = list(csv.DictReader(file))
    assert [row["agent"] for row in kept] == [row["agent"] for row in expected]
    for got, want in zip(kept, expected, strict=True):
        assert list(got) == list(RESULT_COLUMNS)
        for column in ("agent", "env"):
            assert got[column] == want[column]
        for column in RESULT_COLUMNS[2:]:
            assert _number(got[column]) == pytest.approx(want[column], nan_ok=True), (
                f"results/memory-hard/results.csv, {got['agent']} on {got['env']}: {column} "
                "is not what the kept runs give; rewrite the table"
            )


def test_docs_show_the_kept_table_and_curves() -> None:
    """docs/results.md and its plot are copies of the generated files: they must not drift."""
    generated = (KEPT / "results.md").read_text(encoding="utf-8")
    body = generated.split("\n", 1)[1].strip()  # the generated text without its heading
    docs = (REPO / "docs" / "results.md").read_text(encoding="utf-8")
    assert body in docs, (
        "docs/results.md's table is not results/memory-hard/results.md; copy it over again"
    )
    curves = (REPO / "docs" / "memory_hard_curves.png").read_bytes()
    assert curves == (KEPT / "learning_curves.png").read_bytes(), (
        "docs/memory_hard_curves.png is not results/memory-hard/learning_curves.png"
    )
