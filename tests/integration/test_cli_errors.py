"""Every ``memrl`` subcommand given bad input: one line ``memrl CMD: error: ...`` naming the
input and what is accepted, exit status 2 (usage) or 1 (runtime), never a traceback.

The table runs in-process through :func:`memrl.cli.main` (nothing trains: every case fails
before the first step); two cases run the real console script to show that no traceback
reaches its stderr.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from memrl_command import MODULE, run_memrl

from memrl.cli import main, run_command
from memrl.run import make_run_config
from memrl.run.files import write_config

NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is present here")

TINY = [
    "n_envs=2",
    "n_steps=32",
    "seq_len=16",
    "batch_size=32",
    "memory_kwargs.hidden_size=8",
    "env.kwargs.corridor_length=2",
]

BAD_CORRIDOR = [*TINY, "env.kwargs.corridor_length=-3"]


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    """Bad inputs of every kind, made once: ``{root}/...`` in the table below."""
    root = tmp_path_factory.mktemp("bad")
    (root / "broken.yaml").write_text("memory: [lstm\n")
    (root / "binary.yaml").write_bytes(b"\xff\xfe\x00\x01garbage")
    (root / "list.yaml").write_text("- 1\n- 2\n")
    (root / "unknown-key.yaml").write_text("name: x\nmemroy: lstm\n")
    (root / "passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")
    (root / "a-dir.yaml").mkdir()
    (root / "empty").mkdir()
    config = make_run_config("lstm", "memrl/TMaze-v0", steps=64, overrides=TINY)
    for name in ("no-model", "garbage-model", "other-zip", "garbage-checkpoint", "taken"):
        write_config(root / name, config)
    (root / "garbage-model" / "model.zip").write_bytes(b"not a zip at all")
    with zipfile.ZipFile(root / "other-zip" / "model.zip", "w") as archive:
        archive.writestr("readme.txt", "a zip, but not a model")
    (root / "garbage-checkpoint" / "checkpoint.zip").write_bytes(b"PK\x03\x04 truncated")
    (root / "not-a-run").mkdir()
    (root / "not-a-run" / "config.yaml").write_text("agent: lstm\nsteps: many\n")
    # Episode records: a pickled object array, a truncated archive, a plain text file.
    np.savez(root / "pickled.npz", memrl_record=np.array([{"a": 1}], dtype=object))
    np.savez(root / "whole.npz", memrl_record=np.arange(300, dtype=np.uint8))
    (root / "truncated.npz").write_bytes((root / "whole.npz").read_bytes()[:100])
    return root


# (arguments with {root}, exit status, words the one-line message must contain)
CASES = [
    # memrl train
    (["train", "--steps", "abc"], 2, ["argument --steps", "positive integer", "'abc'"]),
    (["train", "--steps", "0"], 2, ["argument --steps", "positive integer"]),
    (["train", "--n-envs", "-1"], 2, ["argument --n-envs"]),
    (["train", "--threads", "0"], 2, ["argument --threads"]),
    (["train", "--device", "tpu"], 2, ["argument --device", "invalid choice", "cpu"]),
    (["train", "--agent", "no-such-agent"], 2, ["no-such-agent", "unknown agent preset", "mlp"]),
    (["train", "--agent", "{root}/missing.yaml"], 2, ["missing.yaml", "no such agent file"]),
    (["train", "--agent", "{root}/a-dir.yaml"], 2, ["a-dir.yaml", "no such agent file"]),
    (["train", "--agent", "{root}/broken.yaml"], 2, ["broken.yaml", "not valid YAML", "line"]),
    (["train", "--agent", "{root}/binary.yaml"], 2, ["binary.yaml", "not a UTF-8 text file"]),
    (["train", "--agent", "{root}/list.yaml"], 2, ["list.yaml", "expected a mapping"]),
    (["train", "--agent", "{root}/unknown-key.yaml"], 2, ["memroy", "accepted keys"]),
    (["train", "--env", "memrl/NoSuchEnv-v0"], 2, ["env.id", "unknown environment id"]),
    (["train", "--set", "foo"], 2, ["--set", "key=value"]),
    (["train", "--set", "learning_rate=-1"], 2, ["learning_rate", "number >= 0"]),
    (["train", "--set", "memory=no-such-core"], 2, ["unknown core", "registered cores"]),
    (["train", "--set", "n_steps=[1"], 2, ["n_steps", "not valid YAML"]),
    (
        [*"train --agent lstm --steps 64 --run-dir {root}/fresh --set".split(), *BAD_CORRIDOR],
        2,
        ["corridor_length", "integer in [1, ", "-3"],
    ),
    (
        ["train", "--steps", "64", "--run-dir", "{root}/fresh", "--set", "env.kwargs.bogus=1"],
        2,
        ["env", "bogus"],
    ),
    (["train", "--config", "{root}/missing"], 2, ["missing", "no such run configuration"]),
    (["train", "--config", "{root}/passwd"], 2, ["passwd", "expected a mapping"]),
    (["train", "--config", "{root}/taken", "--agent", "lstm"], 2, ["--config", "either"]),
    (["train", "--resume", "--run-dir", "{root}/missing"], 2, ["no such run configuration"]),
    (["train", "--resume", "--run-dir", "{root}/not-a-run"], 2, ["not-a-run", "agent"]),
    (["train", "--resume", "--run-dir", "{root}/taken", "--set", "n_envs=3"], 2, ["--set n_envs"]),
    (["train", "--resume", "--run-dir", "{root}/garbage-checkpoint"], 2, ["not a loadable"]),
    (["train", "--run-dir", "{root}/taken", "--steps", "64"], 2, ["already holds a run"]),
    # memrl eval
    (["eval", "{root}/missing"], 2, ["missing", "no such run configuration"]),
    (["eval", "{root}/passwd"], 2, ["passwd", "is a file, not a run directory"]),
    (["eval", "{root}/empty"], 2, ["empty", "no such run configuration"]),
    (["eval", "{root}/no-model"], 2, ["no model.zip or checkpoint.zip"]),
    (["eval", "{root}/garbage-model"], 2, ["model.zip", "not a loadable", "memrl train"]),
    (["eval", "{root}/other-zip"], 2, ["model.zip", "not a loadable"]),
    (["eval", "{root}/no-model", "--episodes", "0"], 2, ["argument --episodes"]),
    # memrl replay
    (["replay", "{root}/passwd"], 2, ["passwd", "not a memrl episode record", "not a zip"]),
    (["replay", "{root}/pickled.npz"], 2, ["pickled.npz", "allow_pickle=False"]),
    (["replay", "{root}/truncated.npz"], 2, ["truncated.npz", "truncated"]),
    (["replay", "{root}/missing"], 2, ["missing", "no such run configuration"]),
    (["replay", "{root}/no-model"], 2, ["model.zip", "no trained model"]),
    (["replay", "{root}/no-model", "--seed", "-1"], 2, ["argument --seed"]),
    (["replay", "{root}/no-model", "--fps", "0"], 2, ["argument --fps", "> 0"]),
    # memrl bench
    (["bench", "no-such-suite"], 2, ["no-such-suite", "unknown suite preset", "quick"]),
    (["bench", "{root}/broken.yaml"], 2, ["broken.yaml", "not valid YAML"]),
    (["bench", "{root}/unknown-key.yaml"], 2, ["unknown-key.yaml", "accepted keys"]),
    (["bench", "quick", "--agents", "no-such-agent"], 2, ["no-such-agent", "presets"]),
    (["bench", "quick", "--jobs", "0"], 2, ["argument --jobs"]),
    (["bench", "quick", "--seeds", "3,mlp"], 2, ["argument --seeds", "'mlp'", "N,AGENT=M"]),
    (["bench", "quick", "--seeds", "mlp=1"], 2, ["argument --seeds", "N,AGENT=M"]),
    (["bench", "quick", "--seeds", "2,mlp=0"], 2, ["argument --seeds", "positive integer"]),
    (["bench", "quick", "--agents", "mlp", "--seeds", "2,gru=1"], 2, ["gru", "agents (mlp)"]),
    (["bench", "quick", "--steps-scale", "-1"], 2, ["argument --steps-scale"]),
    # memrl list, and the command itself
    (["list", "extra"], 2, ["unrecognized arguments: extra"]),
    (["no-such-command"], 2, ["invalid choice", "train"]),
    ([], 2, ["COMMAND"]),
]


def run_main(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exit_info:  # argparse's errors
        return int(exit_info.code)


@pytest.mark.parametrize(
    ("argv", "status", "words"), CASES, ids=[" ".join(argv)[:60] for argv, _, _ in CASES]
)
def test_bad_input_is_one_line_without_traceback(files, capsys, argv, status, words):
    argv = [a.replace("{root}", str(files)) for a in argv]
    assert run_main(argv) == status
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    command = f"memrl {argv[0]}" if argv and not argv[0].startswith("no-such") else "memrl"
    assert lines[0].startswith(f"{command}: error: "), err
    for word in words:
        assert word in lines[0], (word, err)
    assert "Traceback" not in err
    assert not (files / "fresh").exists(), "a failed command left a run directory"


@NO_CUDA
def test_cuda_without_cuda_is_a_usage_error(files, capsys):
    assert main(["train", "--device", "cuda", "--steps", "64"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("memrl train: error: device 'cuda'") and "--device cpu" in err
    assert main(["eval", str(files / "no-model"), "--device", "cuda"]) == 2
    assert "no CUDA device" in capsys.readouterr().err


@NO_CUDA
def test_debug_shows_the_traceback(files):
    from memrl.run.device import DeviceError

    with pytest.raises(DeviceError):
        main(["--debug", "train", "--device", "cuda"])
    with pytest.raises(DeviceError):
        main(["train", "--device", "cuda", "--debug"])


def test_an_unexpected_error_is_exit_1_pointing_to_debug(capsys):
    def broken(args: argparse.Namespace) -> int:
        raise RuntimeError("something inside broke\nsecond line")

    args = argparse.Namespace(command="list", handler=broken, debug=False)
    assert run_command(args) == 1
    err = capsys.readouterr().err
    assert err.strip() == (
        "memrl list: error: unexpected RuntimeError: something inside broke; second line "
        "(run with --debug for the traceback)"
    )
    args.debug = True
    with pytest.raises(RuntimeError):
        run_command(args)


def test_runtime_os_error_is_exit_1(capsys):
    def full(args: argparse.Namespace) -> int:
        raise OSError(28, "No space left on device", "runs/x/checkpoint.zip")

    assert run_command(argparse.Namespace(command="train", handler=full)) == 1
    assert "No space left on device" in capsys.readouterr().err


def console_script() -> list[str]:
    script = Path(sys.executable).parent / "memrl"
    return [str(script)] if script.is_file() else list(MODULE)


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["replay", "/etc/passwd"], ["not a memrl episode record"]),
        (["train", "--device", "cuda", "--steps", "64"], ["no CUDA device"]),
    ],
)
def test_console_script_prints_no_traceback(tmp_path, argv, words):
    if "cuda" in argv and torch.cuda.is_available():
        pytest.skip("CUDA is present here")
    if not Path(argv[-1]).exists() and argv[0] == "replay":
        pytest.skip("no /etc/passwd here")
    result = run_memrl(*argv, cwd=tmp_path, command=console_script())
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"memrl {argv[0]}: error: "), result.stderr
    assert all(word in lines[0] for word in words), result.stderr
    assert not (tmp_path / "runs").exists()
    shutil.rmtree(tmp_path, ignore_errors=True)
