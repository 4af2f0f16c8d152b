"""The comparison agent ``recurrentppo`` (sb3-contrib's RecurrentPPO with its LSTM policy)
runs through memrl like any preset: config round trip, training, evaluation, resume; its
keys and the memory keys stay with their own algorithm."""

from __future__ import annotations

import pytest
import torch
from sb3_contrib import RecurrentPPO

from memrl import run
from memrl.config import ConfigError, load_agent
from memrl.run.files import CONFIG_FILE, MODEL_FILE, read_curve
from memrl.run.models import make_env, make_model

TINY = ["n_envs=2", "n_steps=16", "batch_size=16", "n_epochs=1", "lstm_hidden_size=8"]


def test_the_preset_reads_back_and_gives_sb3_contrib_its_lstm_size():
    agent = load_agent("recurrentppo")
    assert agent.algorithm == "recurrent_ppo"
    assert agent.sb3_kwargs()["policy_kwargs"]["lstm_hidden_size"] == 64
    assert type(agent).from_dict(agent.to_dict(), "round trip") == agent


@pytest.mark.parametrize(
    ("name", "override", "message"),
    [
        ("recurrentppo", "memory=dnc", "memory: only accepted with algorithm: memory_ppo"),
        ("mlp", "lstm_hidden_size=32", "lstm_hidden_size: only accepted with algorithm: recurrent"),
        (
            "lstm",
            "lstm_hidden_size=32",
            "lstm_hidden_size: only accepted with algorithm: recurrent",
        ),
    ],
)
def test_keys_of_another_algorithm_are_refused_by_name(name, override, message):
    with pytest.raises(ConfigError, match=message):
        load_agent(name, [override])


def test_it_trains_evaluates_and_resumes_as_a_memrl_run(tmp_path):
    config = run.make_run_config(
        agent="recurrentppo",
        env="memrl/TMaze-v0",
        steps=64,
        seed=0,
        overrides=[*TINY, "env.kwargs.corridor_length=2", "env.eval_episodes=2"],
    )
    result = run.train(config, tmp_path, progress=False)
    assert isinstance(run.load_model(config, tmp_path / MODEL_FILE), RecurrentPPO)
    assert result.evaluation is not None and result.evaluation.episodes == 2

    resumed = run.load_run_config(tmp_path / CONFIG_FILE).replace(steps=96)
    run.train(resumed, tmp_path, resume=True, progress=False)
    steps = [row["steps"] for row in read_curve(tmp_path)]
    assert steps == sorted(set(steps)) and steps[-1] >= 96


def test_it_trains_on_multibinary_actions():
    # sb3-contrib's recurrent buffers hand back int8 MultiBinary actions, on which the
    # Bernoulli log-probability fails; memrl's RecurrentPPO casts them as SB3's buffers do.
    config = run.make_run_config(
        agent="recurrentppo",
        env="memrl/AssociativeRecall-v0",
        steps=32,
        seed=0,
        overrides=TINY,
    )
    model = make_model(config, make_env(config.env, n_envs=2, seed=0))
    model.learn(32)
    batch = next(model.rollout_buffer.get(16))
    assert batch.actions.dtype == torch.float32
    assert set(batch.actions.unique().tolist()) <= {0.0, 1.0}
