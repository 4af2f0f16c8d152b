"""The benchmark scripts of scripts/ (besides bench_cores.py, tested on its own), run as
subprocesses with tiny budgets: they check that each script runs end to end and prints its
table with the reference it is measured against, not any speed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
TINY_PPO = ["--n-envs", "2", "--n-steps", "32", "--batch-size", "32", "--epochs", "1"]
TINY_PPO += ["--iterations", "1"]


def script(name: str, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, str(SCRIPTS / name), *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result.stdout


def table_rows(out: str) -> dict[str, list[str]]:
    """Markdown table rows by their first cell: name -> the cells after it."""
    rows = [line.split("|")[1:-1] for line in out.splitlines() if line.startswith("| ")]
    return {cells[0].strip(): [cell.strip() for cell in cells[1:]] for cells in rows}


@pytest.mark.parametrize("name", ["bench_training.py", "bench_envs.py", "bench_recall_overhead.py"])
def test_help(name: str) -> None:
    assert "usage:" in script(name, "--help")


def test_bench_training_table_has_ratios_to_both_references() -> None:
    agents = ["--agents", "ppo,recurrent,lstm", "--seq-len", "16"]
    out = script("bench_training.py", *agents, *TINY_PPO)
    rows = table_rows(out)  # agent: fps, vs RecurrentPPO, vs PPO, ...
    assert {"ppo", "recurrent", "lstm"} <= set(rows)
    assert rows["recurrent"][1] == "1.00"
    assert rows["ppo"][2] == "1.00"
    assert "rollout buffer" in out


def test_bench_envs_measures_against_cartpole() -> None:
    out = script("bench_envs.py", "--seconds", "0.05", "--ids", "memrl/TMaze-v0")
    assert "reference CartPole-v1" in out
    (row,) = [line for line in out.splitlines() if line.startswith("memrl/TMaze-v0")]
    assert float(row.split()[3]) > 0  # x CartPole-v1


def test_bench_recall_overhead_compares_with_the_callback_off() -> None:
    out = script("bench_recall_overhead.py", "--repeats", "1", *TINY_PPO)
    rows = table_rows(out)  # callback: fps wall, ratio to off wall, ...
    assert {"off", "default", "every-episode"} <= set(rows)
    assert rows["off"][1] == "1.000"
