"""Crash safety: ``memrl train`` and ``memrl bench`` killed with SIGKILL (no handler runs)
resume from what they left, and every file they left loads.

Tiny runs (an LSTM with 8 units on a T-maze with a corridor of 2 cells, rollouts of 64
steps, a checkpoint and a learning-curve point every rollout): seconds each.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import yaml
from memrl_command import run_memrl
from memrl_command import start_memrl as start
from tiny_runs import TINY_LSTM_TRAIN_ARGS

from memrl.config import load_run_config
from memrl.recall import load_episode
from memrl.sb3 import MemoryPPO

TINY = [*TINY_LSTM_TRAIN_ARGS, "checkpoint_every=64", "eval_every=64"]
ROLLOUT = 64  # n_steps * n_envs


def wait_for(condition, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def kill(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=30)
    assert process.returncode == -signal.SIGKILL


def finish(*args: str, cwd: Path, timeout: float = 240) -> subprocess.CompletedProcess:
    result = run_memrl(*args, cwd=cwd, timeout=timeout)
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    assert "Traceback" not in result.stderr
    return result


def progress_steps(run_dir: Path) -> int:
    try:
        return json.loads((run_dir / "progress.json").read_text())["steps"]
    except (OSError, ValueError, KeyError):
        return 0


def assert_every_file_loads(run_dir: Path) -> None:
    """config.yaml, progress.json, eval.json, curve.csv, the models and the recall records
    of ``run_dir`` all parse; temporary files of an interrupted write may remain (hidden)."""
    load_run_config(run_dir / "config.yaml")
    for path in run_dir.rglob("*"):
        if not path.is_file() or path.name.startswith(".") or "tb" in path.parts:
            continue
        if path.suffix == ".json":
            assert isinstance(json.loads(path.read_text()), dict), path
        elif path.suffix == ".zip":
            MemoryPPO.load(path, device="cpu")
        elif path.suffix == ".npz":
            load_episode(path)
        elif path.suffix == ".yaml":
            yaml.safe_load(path.read_text())
        elif path.suffix == ".csv":
            list(csv.DictReader(path.open()))


def curve_steps(run_dir: Path) -> list[int]:
    with (run_dir / "curve.csv").open() as file:
        return [int(float(row["steps"])) for row in csv.DictReader(file)]


def test_train_killed_after_a_checkpoint_resumes_without_gaps(tmp_path):
    run_dir = tmp_path / "run"
    process = start("train", *TINY, "--steps", "1000000", "--run-dir", str(run_dir), cwd=tmp_path)
    wait_for(lambda: progress_steps(run_dir) >= 2 * ROLLOUT)
    time.sleep(0.3)  # into the next rollouts, maybe mid-write
    kill(process)
    assert_every_file_loads(run_dir)
    saved = MemoryPPO.load(run_dir / "checkpoint.zip", device="cpu").num_timesteps
    # progress.json is written just after the checkpoint: a kill between the two leaves it
    # one checkpoint behind, never ahead.
    assert progress_steps(run_dir) in (saved, saved - ROLLOUT)
    assert saved >= 2 * ROLLOUT

    target = saved + 3 * ROLLOUT
    result = finish("train", "--resume", "--run-dir", str(run_dir), "--steps", str(target),
                    "--no-progress", cwd=tmp_path)  # fmt: skip
    assert f"resuming {run_dir} from step {saved:,}" in result.stdout
    evaluation = json.loads((run_dir / "eval.json").read_text())
    assert evaluation["steps"] == target
    assert MemoryPPO.load(run_dir / "model.zip", device="cpu").num_timesteps == target
    assert_every_file_loads(run_dir)
    steps = curve_steps(run_dir)
    assert steps == sorted(set(steps)), f"duplicate or unordered steps: {steps}"
    # One point per rollout (eval_every = one rollout), then the final evaluation.
    assert steps[:-1] == list(range(0, target, ROLLOUT)), steps
    assert steps[-1] == target


def test_bench_killed_mid_grid_picks_up_and_completes(tmp_path):
    suite = tmp_path / "tiny.yaml"
    entry = {"id": "memrl/TMaze-v0", "kwargs": {"corridor_length": 2}, "solved_at": 0.9}
    suite.write_text(
        yaml.safe_dump(
            {
                "name": "tiny",
                "envs": [
                    {**entry, "steps": 256, "eval_episodes": 2},
                    {**entry, "kwargs": {"corridor_length": 3}, "steps": 256, "eval_episodes": 2},
                ],
            }
        )
    )
    out = tmp_path / "results"
    args = ["bench", str(suite), "--agents", "lstm", "--seeds", "2", "--out", str(out)]
    args += ["--jobs", "1", "--set", "n_envs=2", "n_steps=32", "seq_len=16", "batch_size=32"]
    args += ["memory_kwargs.hidden_size=8", "checkpoint_every=64", "curve_episodes=2"]
    process = start(*args, cwd=tmp_path)
    wait_for(lambda: len(list(out.glob("runs/*/*/*/eval.json"))) >= 1, timeout=180)
    kill(process)
    finished = len(list(out.glob("runs/*/*/*/eval.json")))
    assert 1 <= finished < 4, "killed too late to be mid-grid"
    for config in out.glob("runs/*/*/*/config.yaml"):
        assert_every_file_loads(config.parent)

    result = finish(*args, cwd=tmp_path)
    assert f"{4 - finished} runs trained, {finished} already finished" in result.stdout
    runs = [path.parent for path in out.glob("runs/*/*/*/eval.json")]
    assert len(runs) == 4
    for run_dir in runs:
        assert_every_file_loads(run_dir)
        assert json.loads((run_dir / "eval.json").read_text())["steps"] == 256
        steps = curve_steps(run_dir)
        assert steps == sorted(set(steps)), f"{run_dir}: duplicate or unordered steps {steps}"
    rows = list(csv.DictReader((out / "results.csv").open()))
    assert len(rows) == 2 and all(row["runs"] == "2" for row in rows)


def test_bench_stopped_by_sigterm_saves_its_running_runs(tmp_path):
    """SIGTERM to the bench's process group (a scheduler's notice; Ctrl-C reaches the group
    the same way) with two worker processes: each running run stops at its next step with a
    checkpoint and no evaluation, and the bench exits 130 saying how to pick up (picking up
    is the SIGKILL test's)."""
    suite = tmp_path / "long.yaml"
    entry = {"id": "memrl/TMaze-v0", "kwargs": {"corridor_length": 2}, "solved_at": 0.9}
    entry |= {"steps": 10_000_000, "eval_episodes": 2}
    suite.write_text(yaml.safe_dump({"name": "long", "envs": [entry]}))
    out = tmp_path / "results"
    args = ["bench", str(suite), "--agents", "lstm", "--seeds", "2", "--out", str(out)]
    args += ["--jobs", "2", "--set", "n_envs=2", "n_steps=32", "seq_len=16", "batch_size=32"]
    args += ["memory_kwargs.hidden_size=8", "curve_episodes=2"]
    process = start(*args, cwd=tmp_path, new_session=True)
    run_dirs = [out / "runs" / "lstm" / "0-TMaze-v0_corridor_length=2" / f"seed{s}" for s in (0, 1)]
    wait_for(lambda: all((d / "curve.csv").exists() for d in run_dirs), timeout=180)
    time.sleep(1.0)  # both workers into training
    os.killpg(process.pid, signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert "interrupted: run the same command again" in stderr and "Traceback" not in stderr
    for run_dir in run_dirs:
        saved = MemoryPPO.load(run_dir / "checkpoint.zip", device="cpu").num_timesteps
        assert 0 < saved == progress_steps(run_dir) < 10_000_000
        assert not (run_dir / "eval.json").exists()
        assert_every_file_loads(run_dir)
