"""`memrl bench --backend ray`: the grid as Ray Tune trials on a local Ray with 2 CPUs.

Ray starts once for the module (the first sweep starts it inside the backend; the module
fixture shuts it down), since its start-up costs most of these tests' time. The error
messages are tested without starting Ray.
"""

from __future__ import annotations

import csv
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from memrl.cli import main
from memrl.config import ConfigError, RunConfig, load_suite
from memrl.run import LocalBackend, RayBackend, bench, plan_runs
from memrl.run.files import CHECKPOINT_FILE, MODEL_FILE, write_config
from memrl.run.ray_backend import check_resources

HAS_RAY = importlib.util.find_spec("ray") is not None
needs_ray = pytest.mark.skipif(not HAS_RAY, reason="Ray Tune is not installed (memrl[ray])")

AGENTS = ["lstm", "mlp"]
COMPARED = ("agent", "env", "steps", "solved_at", "runs")


@pytest.fixture(scope="module")
def suite_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("suite") / "tiny.yaml"
    entry = {
        "id": "memrl/TMaze-v0",
        "kwargs": {"corridor_length": 2},
        "steps": 2048,
        "solved_at": 0.9,
        "eval_episodes": 10,
    }
    path.write_text(yaml.safe_dump({"name": "tiny", "envs": [entry]}))
    return path


@pytest.fixture(scope="module", autouse=True)
def shut_ray_down_after_the_module():
    yield
    if "ray" in sys.modules and sys.modules["ray"].is_initialized():
        sys.modules["ray"].shutdown()


def ray_backend(out: Path) -> RayBackend:
    return RayBackend(out / "ray", num_cpus=2)


def compared_rows(out: Path) -> list[tuple[str, ...]]:
    with (out / "results.csv").open(newline="") as file:
        return [tuple(row[key] for key in COMPARED) for row in csv.DictReader(file)]


def seed_dirs(out: Path, seed: int) -> list[Path]:
    return [
        out / "runs" / agent / "0-TMaze-v0_corridor_length=2" / f"seed{seed}" for agent in AGENTS
    ]


def model_times(run_dirs: list[Path]) -> list[int]:
    return [(run_dir / MODEL_FILE).stat().st_mtime_ns for run_dir in run_dirs]


def finished_runs(messages: list[str]) -> list[str]:
    """The run directories of the ``[k/n] RUN_DIR (time)`` progress messages."""
    return sorted(m.split("] ")[1].split(" (")[0] for m in messages if m.startswith("  ["))


@needs_ray
def test_a_sweep_resumes_runs_only_missing_trials_and_tabulates_as_locally(
    suite_file, tmp_path
) -> None:
    out = tmp_path / "ray"
    _, mlp = plan_runs(load_suite(suite_file), AGENTS, 1, out)
    # A started run with a broken checkpoint: its trial fails when it resumes; the other runs.
    mlp.run_dir.mkdir(parents=True)
    write_config(mlp.run_dir, mlp.config)
    (mlp.run_dir / CHECKPOINT_FILE).write_bytes(b"not a checkpoint")
    with pytest.raises(RuntimeError, match=r"1 of the Tune trials failed \(.*mlp.*seed0\)"):
        bench(suite_file, AGENTS, seeds=1, out=out, log=None, backend=ray_backend(out))
    lstm_time = model_times(seed_dirs(out, 0)[:1])

    # The same command again: Tune's experiment is restored and only the failed trial runs.
    (mlp.run_dir / CHECKPOINT_FILE).unlink()
    messages: list[str] = []
    again = bench(suite_file, AGENTS, out=out, log=messages.append, backend=ray_backend(out))
    assert f"  resuming the Tune experiment {(out / 'ray' / 'bench-1').resolve()}" in messages
    assert (again.ran, again.skipped) == (1, 1)
    assert finished_runs(messages) == [str(mlp.run_dir.resolve())]
    assert model_times(seed_dirs(out, 0)[:1]) == lstm_time
    seed0_times = model_times(seed_dirs(out, 0))

    # The sweep grows to 2 seeds: only the 2 new trials run, in a new Tune experiment.
    messages.clear()
    grown = bench(
        suite_file, AGENTS, seeds=2, out=out, log=messages.append, backend=ray_backend(out)
    )
    assert (grown.ran, grown.skipped) == (2, 2)
    assert finished_runs(messages) == sorted(str(d.resolve()) for d in seed_dirs(out, 1))
    assert model_times(seed_dirs(out, 0)) == seed0_times
    assert sorted(p.name for p in (out / "ray").iterdir()) == ["bench-1", "bench-2"]
    # Each trial reported its learning curve to Tune.
    progress = out / "ray" / "bench-2" / "lstm.0.seed1" / "progress.csv"
    assert "mean_return" in progress.read_text().splitlines()[0]

    local = tmp_path / "local"
    bench(suite_file, AGENTS, seeds=2, out=local, log=None, backend=LocalBackend(1))
    assert compared_rows(out) == compared_rows(local)
    assert compared_rows(out) == [
        (agent, "TMaze-v0 corridor_length=2", "2048", "0.9", "2") for agent in AGENTS
    ]


@needs_ray
def test_resources_no_node_has_are_refused_up_front(suite_file, tmp_path, capsys) -> None:
    args = ["bench", str(suite_file), "--agents", "mlp", "--out", str(tmp_path)]
    assert main([*args, "--backend", "ray", "--cpus-per-run", "64"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert "no Ray node has 64 CPUs and 0 GPUs for one run" in error
    assert not (tmp_path / "runs").exists()


# --- without Ray running ---------------------------------------------------------------------


def test_without_ray_the_message_says_how_to_install_it(
    suite_file, tmp_path, capsys, monkeypatch
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray fails
    args = ["bench", str(suite_file), "--agents", "mlp", "--out", str(tmp_path)]
    assert main([*args, "--backend", "ray"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("memrl bench: error: --backend ray: Ray Tune is not installed")
    assert error.count("\n") == 1 and "pip install 'memrl[ray]'" in error


@needs_ray
def test_an_unreachable_address_is_one_line(suite_file, tmp_path, capsys, monkeypatch) -> None:
    import ray

    monkeypatch.setattr(ray, "is_initialized", lambda: False)  # as in a fresh `memrl` process
    monkeypatch.setattr(ray, "init", lambda **_: pytest.fail("Ray was started"))
    args = ["bench", str(suite_file), "--agents", "mlp", "--out", str(tmp_path)]
    assert main([*args, "--backend", "ray", "--address", "127.0.0.1:1"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("memrl bench: error: --address: cannot reach a Ray cluster at")
    assert error.count("\n") == 1 and "ray start --head" in error


def test_ray_options_need_the_ray_backend(suite_file, tmp_path, capsys) -> None:
    args = ["bench", str(suite_file), "--agents", "mlp", "--out", str(tmp_path)]
    assert main([*args, "--address", "auto", "--gpus-per-run", "1"]) == 2
    assert capsys.readouterr().err == (
        "memrl bench: error: --backend local: --address, --gpus-per-run need --backend ray\n"
    )


def test_resource_check_names_the_largest_node() -> None:
    nodes = [
        {"Alive": True, "Resources": {"CPU": 2.0}},
        {"Alive": False, "Resources": {"CPU": 64.0, "GPU": 8.0}},
        {"Alive": True, "Resources": {"CPU": 8.0, "GPU": 1.0}},
    ]
    check_resources(nodes, 8, 1.0)
    check_resources(nodes, 2, 0.5)
    with pytest.raises(ConfigError, match=r"no Ray node has 4 CPUs and 2 GPUs .* of 2 has 8 CPUs"):
        check_resources(nodes, 4, 2.0)
    with pytest.raises(ConfigError, match="the largest of 0 has 0 CPUs"):
        check_resources([], 1, 0.0)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"cpus_per_run": 0}, "cpus_per_run must be an integer >= 1, got 0"),
        ({"gpus_per_run": -1}, "gpus_per_run must be a finite number >= 0"),
        ({"max_concurrent": 0}, "jobs must be an integer >= 1, got 0"),
    ],
)
def test_ray_backend_arguments_are_checked(tmp_path, arguments, message) -> None:
    with pytest.raises(ValueError, match=message):
        RayBackend(tmp_path, **arguments)


def test_storage_is_absolute_unless_a_uri(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert RayBackend("out/ray").storage == str(tmp_path.resolve() / "out" / "ray")
    assert RayBackend("s3://bucket/ray").storage == "s3://bucket/ray"
    assert "Ray on this machine (1 CPU each)" in RayBackend("x").description
    assert "auto (2 CPUs and 0.5 GPUs each)" in RayBackend("x", "auto", 2, 0.5).description


@needs_ray
def test_numpy_scalars_become_python_numbers_before_the_run_config(suite_file, tmp_path):
    from memrl.run.ray_trial import plain

    (run,) = plan_runs(load_suite(suite_file), ["mlp"], 1, tmp_path)
    data = run.config.to_dict()
    data["seed"] = np.int64(3)
    data["agent"]["learning_rate"] = np.float32(0.5)
    with pytest.raises(ConfigError):
        RunConfig.from_dict(data, "numpy")
    converted = plain(data)
    assert type(converted["seed"]) is int and type(converted["agent"]["learning_rate"]) is float
    assert RunConfig.from_dict(converted, "plain").seed == 3
    assert plain({"a": (np.bool_(True), [np.int32(1)])}) == {"a": (True, [1])}
