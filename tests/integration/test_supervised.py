"""memrl.supervised end to end with tiny budgets: the library, resume, and `memrl supervised`."""

from __future__ import annotations

import json
import signal
import time

import pytest
import torch
from memrl_command import run_memrl, start_memrl

from memrl.checks import CheckError, ModelFileError
from memrl.cli import main
from memrl.supervised import (
    CHECKPOINT_FILE,
    CONFIG_FILE,
    MODEL_FILE,
    PLOT_FILE,
    RESULTS_FILE,
    SupervisedConfig,
    TaskData,
    evaluate_lengths,
    load_model,
    read_results,
    train_supervised,
)

TINY = dict(iterations=4, batch_size=4, test_lengths=(2, 6), test_episodes=8, checkpoint_every=2)


def test_library_writes_the_report_and_a_loadable_model(tmp_path):
    config = SupervisedConfig("Copy", "lstm", {"hidden_size": 16}, train_lengths=(1, 3), **TINY)
    result = train_supervised(config, tmp_path, progress=False, log=None)
    assert result.iterations == 4 and result.final_loss > 0
    for name in (CONFIG_FILE, CHECKPOINT_FILE, MODEL_FILE, RESULTS_FILE, PLOT_FILE):
        assert (tmp_path / name).stat().st_size > 0, name
    assert not list(tmp_path.glob(".*tmp*"))  # atomic writes leave nothing behind
    assert (tmp_path / PLOT_FILE).read_bytes().startswith(b"\x89PNG")
    rows = read_results(tmp_path / RESULTS_FILE)
    assert [r.length for r in rows] == [2, 6]
    assert [r.scored for r in rows] == [8 * 2 * 4, 8 * 6 * 4]
    assert all(0.0 <= r.error <= 1.0 for r in rows)
    assert rows == result.results or all(
        abs(a.error - b.error) < 1e-6 for a, b in zip(rows, result.results, strict=True)
    )
    loaded_config, model = load_model(tmp_path)
    assert loaded_config == config
    again = evaluate_lengths(model, TaskData("Copy"), (2, 6), 8, seed=config.seed)
    assert [round(r.error, 6) for r in again] == [round(r.error, 6) for r in rows]


def test_story_questions_report_answer_accuracy(tmp_path):
    config = SupervisedConfig(
        "StoryQA",
        "memnet",
        {"memory_slots": 32},
        {"task": "deduction"},
        train_lengths=(2, 3),
        **TINY,
    )
    rows = train_supervised(config, tmp_path, progress=False, log=None).results
    assert [r.scored for r in rows] == [8, 8]  # one answer per episode


def test_the_cores_meta_loss_is_added_to_the_task_loss(tmp_path):
    # MNM's meta loss trains its writes (as in MemoryPPO); an LSTM has none to add.
    def trained(core, kwargs, coef, name):
        config = SupervisedConfig("Copy", core, kwargs, meta_loss_coef=coef, **TINY)
        train_supervised(config, tmp_path / name, progress=False, log=None)
        return torch.load(tmp_path / name / MODEL_FILE, weights_only=True)["model"]

    mnm = {"controller_size": 8, "key_size": 4}
    with_meta, without = trained("mnm", mnm, 1.0, "a"), trained("mnm", mnm, 0.0, "b")
    assert not all(torch.equal(with_meta[k], without[k]) for k in with_meta)
    lstm = {"hidden_size": 8}
    with_meta, without = trained("lstm", lstm, 1.0, "c"), trained("lstm", lstm, 0.0, "d")
    assert all(torch.equal(with_meta[k], without[k]) for k in with_meta)

    _, model = load_model(tmp_path / "a")
    x = TaskData("Copy").batch(3, 2, seed=0).x
    logits, meta_loss = model.unroll(x, with_loss=True)
    assert torch.allclose(logits, model(x)) and meta_loss.shape == x.shape[:2]
    assert model.unroll(x)[1] is None
    with pytest.raises(CheckError, match="meta_loss_coef"):
        SupervisedConfig("Copy", "mnm", meta_loss_coef=-1.0)


def test_resume_continues_to_the_same_model(tmp_path):
    config = SupervisedConfig("Copy", "lstm", {"hidden_size": 8}, **{**TINY, "iterations": 2})
    train_supervised(config, tmp_path / "a", progress=False, log=None)
    longer = SupervisedConfig.from_dict({**config.to_dict(), "iterations": 4})
    resumed = train_supervised(longer, tmp_path / "a", resume=True, progress=False, log=None)
    straight = train_supervised(longer, tmp_path / "b", progress=False, log=None)
    assert resumed.iterations == 4
    assert resumed.results == straight.results
    a = torch.load(tmp_path / "a" / MODEL_FILE, weights_only=True)["model"]
    b = torch.load(tmp_path / "b" / MODEL_FILE, weights_only=True)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert json.loads((tmp_path / "a" / CONFIG_FILE).read_text())["iterations"] == 4


def test_an_existing_run_is_not_overwritten_and_resume_keeps_the_config(tmp_path):
    config = SupervisedConfig("Copy", "lstm", {"hidden_size": 8}, **{**TINY, "iterations": 1})
    train_supervised(config, tmp_path, progress=False, log=None)
    with pytest.raises(FileExistsError, match="--resume"):
        train_supervised(config, tmp_path, progress=False, log=None)
    other = SupervisedConfig.from_dict({**config.to_dict(), "seed": 1, "batch_size": 2})
    with pytest.raises(CheckError, match="batch_size, seed"):
        train_supervised(other, tmp_path, resume=True, progress=False, log=None)
    with pytest.raises(FileNotFoundError):
        train_supervised(config, tmp_path / "none", resume=True, progress=False, log=None)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        (CHECKPOINT_FILE, b"", "not a file memrl supervised wrote"),
        (CHECKPOINT_FILE, b"garbage", "not a file memrl supervised wrote"),
        (CHECKPOINT_FILE, "truncated", "not a file memrl supervised wrote"),
        (CHECKPOINT_FILE, {"iteration": 1}, "lacks seconds, model, optimizer, torch_rng"),
        (CHECKPOINT_FILE, "other shapes", "does not fit this supervised run"),
        (MODEL_FILE, b"garbage", "not a file memrl supervised wrote"),
        (MODEL_FILE, [1, 2], "lacks config, model"),
        (MODEL_FILE, "other shapes", "does not fit this supervised run"),
    ],
)
def test_broken_saved_files_are_model_file_errors_naming_the_file(tmp_path, name, content, message):
    config = SupervisedConfig("Copy", "lstm", {"hidden_size": 8}, **{**TINY, "iterations": 2})
    train_supervised(config, tmp_path, progress=False, log=None)
    path = tmp_path / name
    if content == "truncated":
        path.write_bytes(path.read_bytes()[:200])
    elif content == "other shapes":  # a saved state of a wider LSTM
        state = torch.load(path, weights_only=True)
        wider = SupervisedConfig("Copy", "lstm", {"hidden_size": 16}, **TINY)
        train_supervised(wider, tmp_path / "wider", progress=False, log=None)
        state["model"] = torch.load(tmp_path / "wider" / name, weights_only=True)["model"]
        torch.save(state, path)
    elif isinstance(content, bytes):
        path.write_bytes(content)
    else:
        torch.save(content, path)
    with pytest.raises(ModelFileError, match=message) as raised:
        if name == MODEL_FILE:
            load_model(tmp_path)
        else:
            longer = SupervisedConfig.from_dict({**config.to_dict(), "iterations": 3})
            train_supervised(longer, tmp_path, resume=True, progress=False, log=None)
    assert str(path) in str(raised.value)


def test_impossible_lengths_are_refused_before_training(tmp_path):
    config = SupervisedConfig("AssociativeRecall", "lstm", train_lengths=(1, 3), **TINY)
    with pytest.raises(CheckError, match=r"train_lengths.*min_length must be an integer >= 2"):
        train_supervised(config, tmp_path, progress=False, log=None)
    assert not (tmp_path / CONFIG_FILE).exists()


def cli(tmp_path, *extra: str) -> int:
    return main(
        [
            "supervised",
            "PrioritySort",
            "--core",
            "ntm",
            "--set",
            "memory_slots=8",
            "env.bits=3",
            "--train-lengths",
            "2-4",
            "--test-lengths",
            "4,8",
            "--batch-size",
            "2",
            "--test-episodes",
            "4",
            "--checkpoint-every",
            "1",
            "--out-dir",
            str(tmp_path),
            "--no-progress",
            *extra,
        ]
    )


def test_cli_trains_and_resumes(tmp_path, capsys):
    assert cli(tmp_path, "--iterations", "2") == 0
    out = capsys.readouterr().out
    assert "length    8: bit error" in out and RESULTS_FILE in out
    saved = json.loads((tmp_path / CONFIG_FILE).read_text())
    assert saved["core_kwargs"] == {"memory_slots": 8} and saved["task_kwargs"] == {"bits": 3}
    assert saved["task"] == "memrl/PrioritySort-v0"
    assert cli(tmp_path, "--iterations", "3") == 2
    assert "--resume" in capsys.readouterr().err
    assert cli(tmp_path, "--iterations", "3", "--resume") == 0
    assert torch.load(tmp_path / CHECKPOINT_FILE, weights_only=True)["iteration"] == 3
    (tmp_path / CHECKPOINT_FILE).write_bytes(b"garbage")
    assert cli(tmp_path, "--iterations", "4", "--resume") == 2
    assert f"{CHECKPOINT_FILE}: not a file memrl supervised wrote" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["Copy", "--core", "nope"], "--core: expected a registered core"),
        (["Nope", "--core", "lstm"], "TASK: expected one of"),
        (["Copy", "--core", "lstm", "--train-lengths", "3-x"], "--train-lengths: expected"),
        (["Copy", "--core", "lstm", "--test-lengths", "8,0"], "--test-lengths: expected"),
        (["Copy", "--core", "lstm", "--set", "hidden_size=0"], "--set: "),
        (["Copy", "--core", "lstm", "--set", "env.bits=0"], "--set env.*: "),
        (["StoryQA", "--core", "lstm", "--set", "env.task=deduction"], "--train-lengths: "),
        (["Copy", "--core", "lstm", "--iterations", "0"], "--iterations"),
        (["Copy", "--core", "mnm", "--meta-loss-coef", "-1"], "--meta-loss-coef: expected"),
    ],
)
def test_cli_bad_arguments_name_the_argument(tmp_path, capsys, argv, message):
    # argparse refuses malformed values itself (SystemExit 2); the rest come back as code 2.
    try:
        code = main(["supervised", *argv, "--out-dir", str(tmp_path), "--no-progress"])
    except SystemExit as exit_:
        code = exit_.code
    assert code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / CONFIG_FILE).exists()


def test_sigterm_saves_a_checkpoint_that_resume_continues(tmp_path):
    """SIGTERM (kill, a cluster scheduler's notice) stops after the current batch with a
    checkpoint, as Ctrl-C does; without it the run would lose every batch since the last
    periodic checkpoint (here: never, checkpoint_every is 10**6)."""
    args = ["supervised", "Copy", "--core", "lstm", "--set", "hidden_size=8", "env.bits=3"]
    args += ["--train-lengths", "2-4", "--test-lengths", "4", "--batch-size", "2"]
    args += ["--test-episodes", "4", "--checkpoint-every", "1000000", "--no-progress"]
    args += ["--out-dir", str(tmp_path)]
    process = start_memrl(*args, "--iterations", "100000000")
    deadline = time.monotonic() + 60
    while not (tmp_path / CONFIG_FILE).exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.5)  # into the training loop
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    saved = torch.load(tmp_path / CHECKPOINT_FILE, weights_only=True)["iteration"]
    assert saved > 0 and not (tmp_path / MODEL_FILE).exists()
    resumed = run_memrl(*args, "--iterations", str(saved + 2), "--resume", timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    assert torch.load(tmp_path / CHECKPOINT_FILE, weights_only=True)["iteration"] == saved + 2
