"""The ``memrl`` command, run as a subprocess with tiny budgets (seconds per call).

Tiny runs: an LSTM with 8 units on a T-maze with a corridor of 2 cells, 2 envs, rollouts of
32 steps, a few evaluation episodes. They check what the command writes and prints, not
learning (tests/integration/test_learning_*.py check learning).
"""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch
import yaml
from memrl_command import run_memrl as memrl
from memrl_command import start_memrl
from tiny_runs import TINY_LSTM_TRAIN_ARGS

from memrl.cli import build_parser, main

TINY = TINY_LSTM_TRAIN_ARGS


def ok(result: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """One tiny finished training run, shared by the tests that only read it."""
    path = tmp_path_factory.mktemp("runs") / "tiny"
    ok(memrl("train", *TINY, "--steps", "128", "--run-dir", str(path), "--seed", "1"))
    return path


def test_help_of_every_subcommand(capsys):
    assert "usage: memrl" in ok(memrl("--help")).stdout  # the module entry point itself
    for command in ("train", "eval", "bench", "list"):
        with pytest.raises(SystemExit) as exit_info:
            main([command, "--help"])
        assert exit_info.value.code == 0
        assert f"usage: memrl {command}" in capsys.readouterr().out
    main_help = build_parser().format_help()
    assert all(c in main_help for c in ("train", "eval", "bench", "list"))


def test_train_writes_the_run_directory(run_dir):
    for name in ("model.zip", "checkpoint.zip", "config.yaml", "eval.json", "curve.csv"):
        assert (run_dir / name).is_file(), name
    assert list((run_dir / "tb").rglob("events.out.tfevents.*")), "no TensorBoard event file"
    evaluation = json.loads((run_dir / "eval.json").read_text())
    assert evaluation["episodes"] == 4 and len(evaluation["returns"]) == 4
    assert evaluation["steps"] >= 128
    assert evaluation["solved_at"] == 0.9 and 0 <= evaluation["success_rate"] <= 1
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert config["agent"]["memory_kwargs"] == {"hidden_size": 8}
    assert config["env"]["kwargs"] == {"corridor_length": 2}
    assert config["seed"] == 1 and config["steps"] == 128
    curve = (run_dir / "curve.csv").read_text().splitlines()
    assert curve[0].startswith("steps,mean_return") and len(curve) >= 3
    assert not list(run_dir.glob(".*.tmp")), "temporary files left behind"


def test_train_prints_progress_and_the_evaluation(tmp_path):
    args = [a for a in TINY if a != "--no-progress"]
    result = ok(memrl("train", *args, "--steps", "64", "--run-dir", str(tmp_path / "r")))
    assert "mean return" in result.stdout and "success rate" in result.stdout
    assert "step" in result.stderr  # the progress bar (tqdm writes to stderr)


def test_resume_continues_the_step_count(tmp_path):
    path = tmp_path / "r"
    ok(memrl("train", *TINY, "--steps", "64", "--run-dir", str(path)))
    first = json.loads((path / "eval.json").read_text())["steps"]
    result = ok(
        memrl("train", "--resume", "--run-dir", str(path), "--steps", "192", "--no-progress")
    )
    assert f"from step {first}" in result.stdout
    evaluation = json.loads((path / "eval.json").read_text())
    assert evaluation["steps"] >= 192 > first
    assert yaml.safe_load((path / "config.yaml").read_text())["steps"] == 192
    # The TensorBoard run continues in the same directory.
    assert [p.name for p in (path / "tb").iterdir()] == ["train_1"]


def test_resume_refuses_a_new_configuration(run_dir, capsys):
    assert main(["train", "--resume", "--run-dir", str(run_dir), "--seed", "3"]) == 2
    assert "--seed" in capsys.readouterr().err


def test_config_reproduces_a_run_exactly(run_dir, tmp_path):
    again = tmp_path / "again"
    ok(
        memrl(
            "train",
            "--config",
            str(run_dir / "config.yaml"),
            "--run-dir",
            str(again),
            "--no-progress",
        )
    )
    first = json.loads((run_dir / "eval.json").read_text())
    second = json.loads((again / "eval.json").read_text())
    assert first["returns"] == second["returns"]
    from memrl.sb3 import MemoryPPO

    a = MemoryPPO.load(run_dir / "model.zip", device="cpu").policy.state_dict()
    b = MemoryPPO.load(again / "model.zip", device="cpu").policy.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_existing_run_dir_is_refused(run_dir, capsys):
    assert main(["train", *TINY, "--steps", "64", "--run-dir", str(run_dir)]) == 2
    assert "--resume" in capsys.readouterr().err


def test_bad_settings_are_clear_errors(capsys):
    result = memrl("train", "--set", "batch_size=100", "--steps", "64")
    assert result.returncode == 2
    assert "batch_size" in result.stderr and "multiple of seq_len" in result.stderr
    assert "Traceback" not in result.stderr
    # The same error path in-process for the other kinds (a subprocess each would be slow).
    assert main(["train", "--env", "memrl/NoSuchEnv-v0"]) == 2
    error = capsys.readouterr().err
    assert "env.id" in error and "close matches" in error
    assert main(["train", "--agent", "no-such-agent"]) == 2
    assert "presets: " in capsys.readouterr().err
    assert main(["train", "--set", "memory_kwargs.slots=3"]) == 2
    error = capsys.readouterr().err
    assert "agent.memory_kwargs.slots" in error and "accepted: memory_slots" in error


# SIGTERM: what `kill` and cluster schedulers send before they kill a job.
@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_stop_signal_saves_a_checkpoint_and_resume_continues(tmp_path, stop_signal):
    path = tmp_path / "r"
    process = start_memrl("train", *TINY, "--steps", "10000000", "--run-dir", path)
    deadline = time.monotonic() + 60
    # The learning curve's first point is written once training has started.
    while not (path / "curve.csv").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1.0)
    process.send_signal(stop_signal)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "interrupted at step" in stdout and "--resume" in stdout
    assert "Traceback" not in stderr
    assert (path / "checkpoint.zip").is_file() and not (path / "model.zip").exists()
    steps = json.loads((path / "progress.json").read_text())["steps"]
    assert steps > 0
    result = ok(
        memrl(
            "train", "--resume", "--run-dir", str(path), "--steps", str(steps + 64), "--no-progress"
        )
    )
    assert f"from step {steps:,}" in result.stdout
    assert json.loads((path / "eval.json").read_text())["steps"] >= steps + 64


def test_eval_prints_the_table_and_writes_json(run_dir):
    result = ok(memrl("eval", str(run_dir), "--episodes", "3", "--threads", "1"))
    assert "mean return" in result.stdout and "3 (deterministic)" in result.stdout
    evaluation = json.loads((run_dir / "eval.json").read_text())
    assert evaluation["episodes"] == 3 and evaluation["deterministic"] is True
    result = ok(memrl("eval", str(run_dir), "--episodes", "2", "--no-deterministic"))
    assert "2 (sampled)" in result.stdout


def test_eval_of_a_missing_run_is_an_error(tmp_path, capsys):
    assert main(["eval", str(tmp_path / "nothing")]) == 2
    assert "no such run configuration" in capsys.readouterr().err


def test_list_prints_cores_presets_envs_and_suites():
    result = ok(memrl("list"))
    for word in ("dnc", "ntm", "mnm", "memnet", "lstm", "gru"):
        assert word in result.stdout
    for preset in ("dnc-gumbel", "mnm-g", "mnm-p", "mlp"):
        assert f"  {preset} " in result.stdout
    assert "memrl/TMaze-v0" in result.stdout and "memrl/GoalSearch-5x5-v0" in result.stdout
    for suite in ("quick", "gridworld", "algorithmic", "minigrid-memory", "popgym-easy"):
        assert f"  {suite} " in result.stdout


def test_bench_writes_results_and_skips_finished_runs(tmp_path):
    suite = tmp_path / "tiny.yaml"
    suite.write_text(
        yaml.safe_dump(
            {
                "name": "tiny",
                "description": "two tiny entries",
                "envs": [
                    {
                        "id": "memrl/TMaze-v0",
                        "kwargs": {"corridor_length": 2},
                        "steps": 64,
                        "solved_at": 0.9,
                        "eval_episodes": 3,
                    },
                    {"id": "memrl/Copy-v0", "steps": 64, "solved_at": 0.95, "eval_episodes": 2},
                ],
            }
        )
    )
    agent = tmp_path / "tiny-lstm.yaml"
    agent.write_text(
        yaml.safe_dump(
            {
                "name": "tiny-lstm",
                "description": "a small LSTM",
                "memory": "lstm",
                "memory_kwargs": {"hidden_size": 8},
                "seq_len": 16,
            }
        )
    )
    out = tmp_path / "results"
    args = ["bench", str(suite), "--agents", f"{agent},mlp", "--seeds", "1", "--out", str(out)]
    args += ["--jobs", "2", "--set", "n_envs=2", "n_steps=32", "batch_size=32"]
    first = ok(memrl(*args, timeout=240))
    assert "4 runs trained, 0 already finished" in first.stdout
    markdown = (out / "results.md").read_text()
    assert "| tiny-lstm | TMaze-v0 corridor_length=2 |" in markdown
    assert "| mlp | Copy-v0 |" in markdown
    rows = (out / "results.csv").read_text().splitlines()
    assert rows[0].startswith("agent,env,steps,solved_at,runs,final_return_mean")
    assert len(rows) == 5
    assert (out / "learning_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    again = ok(memrl(*args, timeout=120))
    assert "0 runs trained, 4 already finished" in again.stdout
    # A second seed for mlp alone: the finished runs are kept, and the table has both.
    args[args.index("--seeds") + 1] = "1,mlp=2"
    more = ok(memrl(*args, timeout=120))
    assert "2 runs trained, 4 already finished" in more.stdout
    table = list(csv.DictReader((out / "results.csv").open()))
    assert {(row["agent"], row["runs"]) for row in table} == {("tiny-lstm", "1"), ("mlp", "2")}
