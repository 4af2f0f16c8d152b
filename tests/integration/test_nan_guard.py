"""The NaN guard: a core that turns non-finite at a chosen update stops training with a
message naming the step, the core and the quantity; the last good checkpoint stays as it
was and ``--resume --set learning_rate=...`` continues from it."""

from __future__ import annotations

import json
from typing import NamedTuple

import pytest
import torch
import yaml
from torch import Tensor, nn

from memrl.cli import main
from memrl.memory import MemoryCore, registry
from memrl.run import make_run_config, train
from memrl.sb3 import MemoryPPO
from memrl.sb3.callbacks import NonFiniteError

# Each update is one minibatch (batch_size = n_steps * n_envs, one epoch), so the core's
# forward with gradients runs once per update; the third update (after step 192) goes bad.
SETTINGS = [
    "memory=nan-test",
    "memory_kwargs={hidden_size: 8}",
    "n_envs=2",
    "n_steps=32",
    "seq_len=16",
    "batch_size=64",
    "n_epochs=1",
    "env.kwargs.corridor_length=2",
    "env.eval_episodes=2",
    "curve_episodes=2",
    "checkpoint_every=64",
    "eval_every=1000",
]
BAD_UPDATE = 3
BAD_STEP = 192
LAST_GOOD_CHECKPOINT = 128

POISON: dict[str, object] = {"mode": None, "updates": 0}


class PoisonState(NamedTuple):
    h: Tensor


class NanGradient(torch.autograd.Function):
    """The identity whose gradient is NaN."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        return x.clone()

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        return grad * float("nan")


class PoisonCore(MemoryCore):
    """A feed-forward "core" whose output (mode ``output``) or gradient (mode ``gradient``)
    is NaN from the ``BAD_UPDATE``-th update on."""

    def __init__(self, input_size: int, hidden_size: int = 8) -> None:
        super().__init__()
        self.input_size, self.output_size = input_size, hidden_size
        self.linear = nn.Linear(input_size, hidden_size)

    def initial_state(self, batch_size: int, device: torch.device | str | None = None):
        device = device or self.linear.weight.device
        return PoisonState(torch.zeros(batch_size, self.output_size, device=device))

    def forward(self, x: Tensor, state: PoisonState, episode_starts: Tensor | None = None):
        y = torch.tanh(self.linear(x))
        if torch.is_grad_enabled():  # an update (rollouts and evaluations run without grad)
            POISON["updates"] = int(POISON["updates"]) + 1
            if POISON["mode"] is not None and int(POISON["updates"]) >= BAD_UPDATE:
                y = y * float("nan") if POISON["mode"] == "output" else NanGradient.apply(y)
        return y, PoisonState(y[-1])


@pytest.fixture
def poison(monkeypatch):
    # Registered for the test only: a core left in the registry would join every test
    # that runs over all registered cores (tests/unit/test_core_contract.py).
    monkeypatch.setitem(registry._CORES, "nan-test", PoisonCore)

    def arm(mode: str | None) -> None:
        POISON.update(mode=mode, updates=0)

    yield arm
    arm(None)


def assert_last_good_checkpoint(run_dir) -> None:
    assert json.loads((run_dir / "progress.json").read_text())["steps"] == LAST_GOOD_CHECKPOINT
    model = MemoryPPO.load(run_dir / "checkpoint.zip", device="cpu")
    assert model.num_timesteps == LAST_GOOD_CHECKPOINT
    assert all(torch.isfinite(p).all() for p in model.policy.parameters())
    assert not (run_dir / "model.zip").exists() and not (run_dir / "eval.json").exists()


def test_non_finite_output_stops_training_and_keeps_the_checkpoint(tmp_path, poison, monkeypatch):
    # torch's distributions refuse NaN logits only while argument validation is on, and
    # the first torch.compile in a process (earlier tests) turns it off for good; then the
    # guard sees the NaN in the loss instead. This test is about the policy-output path.
    monkeypatch.setattr(torch.distributions.Distribution, "_validate_args", True)
    poison("output")
    config = make_run_config("lstm", "memrl/TMaze-v0", steps=512, overrides=SETTINGS)
    with pytest.raises(NonFiniteError) as error:
        train(config, tmp_path / "run", progress=False, log=None)
    assert (error.value.step, error.value.core) == (BAD_STEP, "nan-test")
    message = str(error.value)
    assert f"at step {BAD_STEP}" in message and "core nan-test" in message
    assert "output of the policy" in message and "in an update" in message
    assert f"(step {LAST_GOOD_CHECKPOINT})" in message and "--resume" in message
    assert_last_good_checkpoint(tmp_path / "run")


def test_non_finite_gradient_stops_the_cli_and_resume_with_a_lower_rate_continues(
    tmp_path, poison, capsys
):
    run_dir = tmp_path / "run"
    poison("gradient")
    argv = ["train", "--agent", "lstm", "--steps", "256", "--run-dir", str(run_dir)]
    assert main([*argv, "--no-progress", "--set", *SETTINGS]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert err.startswith("memrl train: error: non-finite gradient of ")
    assert f"at step {BAD_STEP} (core nan-test)" in err
    assert f"memrl train --resume --run-dir {run_dir} --set learning_rate=" in err
    assert_last_good_checkpoint(run_dir)

    poison(None)
    resume = ["train", "--resume", "--run-dir", str(run_dir), "--no-progress"]
    assert main([*resume, "--set", "learning_rate=1.0e-4", "max_grad_norm=0.1"]) == 0
    assert f"from step {LAST_GOOD_CHECKPOINT}" in capsys.readouterr().out
    agent = yaml.safe_load((run_dir / "config.yaml").read_text())["agent"]
    assert agent["learning_rate"] == 1.0e-4 and agent["max_grad_norm"] == 0.1
    model = MemoryPPO.load(run_dir / "model.zip", device="cpu")
    assert model.learning_rate == 1.0e-4 and model.max_grad_norm == 0.1
    assert model.num_timesteps >= 256
    assert json.loads((run_dir / "eval.json").read_text())["steps"] >= 256
    steps = [row.split(",")[0] for row in (run_dir / "curve.csv").read_text().splitlines()[1:]]
    assert steps == sorted(set(steps), key=float), "curve.csv has duplicate or unordered steps"


def test_resume_refuses_other_settings(tmp_path, capsys):
    assert main(["train", "--resume", "--run-dir", str(tmp_path), "--set", "gamma=0.5"]) == 2
    err = capsys.readouterr().err
    assert "--set gamma" in err and "learning_rate, max_grad_norm" in err
