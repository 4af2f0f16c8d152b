"""The scripts in scripts/: --help, and one run each with a tiny budget (subprocess).

The benchmark scripts (bench_cores.py has a file of its own) are checked to run end to end and
print their table with the reference they are measured against, not any speed.

The reproduction scripts run the memoryless reference agent (mlp, the cheapest) on every entry
of their suite for a few dozen steps and one evaluation episode: this checks that every suite
entry can be made, trained on and evaluated through the script, not any result.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from memrl.config import agent_presets

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
TINY_BENCH = ["--agents", "mlp", "--seeds", "1", "--jobs", "1"]
TINY_BENCH += ["--set", "n_envs=1", "n_steps=16", "batch_size=16", "env.eval_episodes=1"]
TINY_PPO = ["--n-envs", "2", "--n-steps", "32", "--batch-size", "32", "--epochs", "1"]
TINY_PPO += ["--iterations", "1"]


def script(name: str, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, str(SCRIPTS / name), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result


def test_train_script(tmp_path):
    assert "--agent" in script("train.py", "--help").stdout
    run_dir = tmp_path / "run"
    result = script(
        "train.py",
        *("--agent", "gru", "--steps", "64", "--n-envs", "2", "--no-progress"),
        *("--run-dir", str(run_dir)),
        *("--set", "n_steps=32", "batch_size=32", "seq_len=16", "memory_kwargs.hidden_size=8"),
        *("env.kwargs.corridor_length=2", "env.eval_episodes=2", "curve_episodes=1"),
    )
    assert "mean return" in result.stdout
    assert json.loads((run_dir / "eval.json").read_text())["episodes"] == 2
    assert (run_dir / "model.zip").is_file()


# Scales that leave a few dozen steps of each suite's budgets (50k .. 10M steps).
@pytest.mark.parametrize(
    ("name", "suite", "scale"),
    [
        ("reproduce_quick.py", "quick", "0.001"),
        ("reproduce_gridworld.py", "gridworld", "0.00002"),
        ("reproduce_algorithmic.py", "algorithmic", "0.00002"),
        ("reproduce_minigrid_memory.py", "minigrid-memory", "0.00002"),
        ("reproduce_popgym_easy.py", "popgym-easy", "0.00002"),
        ("reproduce_memory_hard.py", "memory-hard", "0.00002"),
    ],
)
def test_reproduce_script(tmp_path, name, suite, scale):
    assert f"memrl bench {suite}" in script(name, "--help").stdout
    out = tmp_path / "results"
    script(name, *TINY_BENCH, "--steps-scale", scale, "--out", str(out))
    markdown = (out / "results.md").read_text()
    assert markdown.startswith(f"# {suite}: results")
    assert (out / "results.csv").is_file() and (out / "learning_curves.png").is_file()


def test_memory_hard_defaults_are_the_campaign_grid() -> None:
    help_text = "".join(script("reproduce_memory_hard.py", "--help").stdout.split())
    agents = help_text.split("agentpresets(default:")[1].split(")")[0].split(",")
    assert len(agents) == 9 and set(agents) <= set(agent_presets())
    assert "seeds(default3,mlp=1,gru=1,mnm-p-fast=1,ntm-fast=1)" in help_text


def table_rows(out: str) -> dict[str, list[str]]:
    """Markdown table rows by their first cell: name -> the cells after it."""
    rows = [line.split("|")[1:-1] for line in out.splitlines() if line.startswith("| ")]
    return {cells[0].strip(): [cell.strip() for cell in cells[1:]] for cells in rows}


@pytest.mark.parametrize("name", ["bench_training.py", "bench_envs.py", "bench_recall_overhead.py"])
def test_bench_script_help(name: str) -> None:
    assert "usage:" in script(name, "--help").stdout


def test_bench_training_table_has_ratios_to_both_references() -> None:
    agents = ["--agents", "ppo,recurrent,lstm", "--seq-len", "16"]
    out = script("bench_training.py", *agents, *TINY_PPO).stdout
    rows = table_rows(out)  # agent: fps, vs RecurrentPPO, vs PPO, ...
    assert {"ppo", "recurrent", "lstm"} <= set(rows)
    assert rows["recurrent"][1] == "1.00"
    assert rows["ppo"][2] == "1.00"
    assert "rollout buffer" in out


def test_bench_envs_measures_against_cartpole() -> None:
    out = script("bench_envs.py", "--seconds", "0.05", "--ids", "memrl/TMaze-v0").stdout
    assert "reference CartPole-v1" in out
    (row,) = [line for line in out.splitlines() if line.startswith("memrl/TMaze-v0")]
    assert float(row.split()[3]) > 0  # x CartPole-v1


def test_bench_recall_overhead_compares_with_the_callback_off() -> None:
    out = script("bench_recall_overhead.py", "--repeats", "1", *TINY_PPO).stdout
    rows = table_rows(out)  # callback: fps wall, ratio to off wall, ...
    assert {"off", "default", "every-episode"} <= set(rows)
    assert rows["off"][1] == "1.000"


def test_bench_training_compile_adds_the_compile_time_of_the_memory_agents() -> None:
    # lstm's cuDNN unroll has no per-step function to compile: this checks the option and
    # the column, cheaply (a compiled step costs a minute on a cold Inductor cache).
    agents = ["--agents", "ppo,lstm", "--seq-len", "16", "--no-memory-report"]
    out = script("bench_training.py", *agents, *TINY_PPO, "--compile").stdout
    rows = table_rows(out)  # agent: fps, vs RecurrentPPO, vs PPO, collect, train, compile s
    assert "compiled (default)" in out
    assert rows["agent"][-1] == "compile s"
    assert rows["ppo"][-1] == "-"  # SB3's PPO stays eager
    float(rows["lstm"][-1])


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message without CUDA")
def test_bench_training_refuses_cuda_without_cuda() -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPTS / "bench_training.py"), "--device", "cuda"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "--device cuda: CUDA is not available here" in result.stderr


def test_bench_training_refuses_an_unknown_agent_and_compile_mode() -> None:
    for args, words in [
        (["--agents", "ppo,hopfield"], "unknown agent 'hopfield'"),
        (["--compile", "fastest"], "invalid choice: 'fastest'"),
    ]:
        result = subprocess.run(
            [sys.executable, str(SCRIPTS / "bench_training.py"), *args],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 2 and words in result.stderr, result.stderr


def test_memory_room_looks_tabulates_success_and_looking_back_per_start_cell(tmp_path):
    run_dir = tmp_path / "run"
    script(
        "train.py",
        *("--agent", "lstm", "--env", "MiniGrid-MemoryS7-v0", "--steps", "32"),
        *("--n-envs", "1", "--no-progress", "--run-dir", str(run_dir)),
        *("--set", "n_steps=32", "batch_size=32", "seq_len=16", "env.kwargs.view_size=3"),
        *("env.eval_episodes=1", "curve_episodes=1"),
    )
    out = script("memory_room_looks.py", str(run_dir), "--episodes", "6").stdout
    rows = [line.split("|")[1:-1] for line in out.splitlines()[2:]]
    assert sum(int(row[1]) for row in rows) == 6
    assert all(1 <= int(row[0]) <= 4 and 0 <= float(row[3]) <= 1 for row in rows)


def test_memory_room_looks_refuses_a_run_on_another_env(tmp_path):
    run_dir = tmp_path / "run"
    script(
        "train.py",
        *("--agent", "mlp", "--steps", "32", "--n-envs", "1", "--no-progress"),
        *("--run-dir", str(run_dir), "--set", "n_steps=32", "batch_size=32"),
        *("env.eval_episodes=1", "curve_episodes=1"),
    )
    result = subprocess.run(
        [sys.executable, str(SCRIPTS / "memory_room_looks.py"), str(run_dir)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode != 0 and "not a MiniGrid Memory room" in result.stderr
